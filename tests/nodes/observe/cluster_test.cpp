// What the dashboard collects from a real head (nodes/observe/cluster.hpp): its worker
// processes with their links' traffic, its pool's tasks and latest failure, a SIGKILLed worker
// shown down, and a pool that ended leaving the view.
#include <signal.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "../head_fixture.hpp"
#include "troupe/nodes/observe/cluster.hpp"
#include "troupe/nodes/observe/observatory.hpp"
#include "troupe/nodes/pool/process_pool.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::observe::cluster_view;

// The observatory is on before any link opens or pool starts, as with --dashboard. (Each test
// runs in its own process under CTest, so turning it on here touches no other test.)
struct DashboardCluster : troupe::test::head_fixture {
  DashboardCluster() : head_fixture(observed(1500ms)) {}

  // Runs before the fixture's node exists.
  static std::chrono::milliseconds observed(std::chrono::milliseconds heartbeat_timeout) {
    troupe::observe::observatory::enable();
    return heartbeat_timeout;
  }

  cluster_view view() {
    return troupe::observe::collect(sys, "head");
  }

  // Collects until `ok` holds; the last view either way (10 s bound).
  template <class Predicate>
  cluster_view view_until(Predicate ok) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    auto v = view();
    while (!ok(v) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      v = view();
    }
    return v;
  }
};

size_t children_up(const cluster_view& v) {
  size_t n = 0;
  for (auto& node : v.nodes)
    n += node.up && node.child ? 1 : 0;
  return n;
}

TEST_F(DashboardCluster, ShowsTheWorkersTheirTrafficTheTasksAndTheLatestFailure) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2));
  auto failed = pool.apply_async<int64_t>("fail_on_13", int64_t{13});
  ASSERT_TRUE(failed.wait_for(30s));
  auto echoed = pool.map<int64_t>("fail_on_13", std::vector<int64_t>{1, 2, 3});
  ASSERT_EQ(echoed.size(), 3u);

  auto v = view_until([](const cluster_view& v) { return children_up(v) == 2; });
  EXPECT_EQ(v.head, "head");
  ASSERT_EQ(children_up(v), 2u);
  uint64_t done = 0;
  for (auto& node : v.nodes) {
    done += node.tasks_done;
    EXPECT_GT(node.bytes_in, 0u) << node.name;
    EXPECT_GT(node.bytes_out, 0u) << node.name;
    EXPECT_GT(node.frames_in, 0u) << node.name;
    EXPECT_GT(node.frames_out, 0u) << node.name;
    if (!node.up)
      continue;  // an earlier test's worker (--gtest_repeat): down, its heartbeat age unknown
    EXPECT_GE(node.heartbeat_age_s, 0) << node.name;
    EXPECT_LT(node.heartbeat_age_s, 1.5) << node.name;  // heartbeats every 200 ms here
  }
  // Echoed heartbeats measure each link's round trip (a few beats: wait for them).
  v = view_until([](const cluster_view& v) {
    for (auto& node : v.nodes)
      if (node.up && node.round_trip_s < 0)
        return false;
    return true;
  });
  for (auto& node : v.nodes) {
    if (!node.up)
      continue;
    EXPECT_GE(node.round_trip_s, 0) << node.name;
    EXPECT_LT(node.round_trip_s, 1.0) << node.name;
    uint64_t measured = 0;
    for (auto n : node.round_trip_buckets)
      measured += n;
    EXPECT_GT(measured, 0u) << node.name;
  }
  EXPECT_EQ(done, 4u);
  ASSERT_EQ(v.pools.size(), 1u);
  auto& p = v.pools[0];
  EXPECT_EQ(p.stats.tasks_completed, 4u);
  EXPECT_EQ(p.failures, 1u);
  EXPECT_EQ(p.queued_items, 0u);
  EXPECT_EQ(p.items_in_flight, 0u);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].task, "fail_on_13");
  EXPECT_EQ(p.errors[0].item, 0u);
  EXPECT_NE(p.errors[0].message.find("unlucky 13"), std::string::npos) << p.errors[0].message;
}

TEST_F(DashboardCluster, ShowsAKilledWorkerDownAndItsReplacementUp) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2));
  auto before = view_until([](const cluster_view& v) { return children_up(v) == 2; });
  ASSERT_EQ(children_up(before), 2u);
  troupe::observe::node_view victim;
  for (auto& node : before.nodes)
    if (node.up && node.child)
      victim = node;
  ASSERT_EQ(kill(static_cast<pid_t>(victim.pid), SIGKILL), 0);
  auto after = view_until([&](const cluster_view& v) {
    bool down = false;
    for (auto& node : v.nodes)
      down = down || (node.id == victim.id && !node.up);
    return down && children_up(v) == 2 && !v.pools.empty() && v.pools[0].stats.respawned >= 1;
  });
  bool shown_down = false;
  for (auto& node : after.nodes)
    if (node.id == victim.id) {
      shown_down = !node.up;
      EXPECT_FALSE(node.down_reason.empty());
    }
  EXPECT_TRUE(shown_down);
  EXPECT_EQ(children_up(after), 2u);
  ASSERT_EQ(after.pools.size(), 1u);
  EXPECT_GE(after.pools[0].stats.worker_deaths, 1u);
  EXPECT_GE(after.pools[0].stats.respawned, 1u);
}

TEST_F(DashboardCluster, APoolThatEndedLeavesTheView) {
  {
    troupe::process_pool pool{head, {.workers = 1}};
    ASSERT_TRUE(pool.wait_for_workers(1));
    ASSERT_EQ(view().pools.size(), 1u);
  }
  auto v = view_until([](const cluster_view& v) { return v.pools.empty(); });
  EXPECT_TRUE(v.pools.empty());
}

}  // namespace
