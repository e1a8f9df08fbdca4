// Values over the frame limit (16 MiB by default) in the process pool, on real worker
// processes: a result or an argument too large for a frame fails its own item at once with
// message_too_large naming the task and the item; the map's other items succeed, nothing runs
// again, and no worker is killed, dropped or blamed.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../frame_limit_check.hpp"
#include "../head_fixture.hpp"
#include "../subprocess.hpp"
#include "troupe/nodes/pool/process_pool.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;

constexpr int64_t over_the_limit = 17 * 1024 * 1024;  // the default limit is 16 MiB

std::string sized(int64_t n) {
  return std::string(static_cast<size_t>(n), 'x');
}

int64_t length(std::string s) {
  return static_cast<int64_t>(s.size());
}

troupe::test::setup_step frame_limit_tasks{[](troupe::config& cfg) {
  cfg.tasks().add("frame_limit.sized", sized).add("frame_limit.length", length);
}};

struct PoolFrameLimit : troupe::test::head_fixture {
  PoolFrameLimit() : head_fixture(2000ms) {}

  // Nobody was blamed: no worker died, was dropped or replaced, and nothing ran twice.
  static void expect_no_worker_blamed(troupe::process_pool& pool) {
    auto stats = pool.stats();
    EXPECT_EQ(stats.worker_deaths, 0u);
    EXPECT_EQ(stats.fenced, 0u);
    EXPECT_EQ(stats.respawned, 0u);
    EXPECT_EQ(stats.redispatched, 0u);
  }

  static void expect_too_large(const caf::error& err, const std::string& names) {
    EXPECT_TRUE(troupe::is(err, errc::message_too_large)) << troupe::describe(err);
    auto said = troupe::describe(err);
    EXPECT_NE(said.find(names), std::string::npos) << said;
    EXPECT_TRUE(troupe::test::names_a_size_just_over(said, over_the_limit)) << said;
    EXPECT_NE(said.find("16777216"), std::string::npos) << said;
    EXPECT_NE(said.find("--max-frame-size"), std::string::npos) << said;
  }
};

TEST_F(PoolFrameLimit, AResultOverTheLimitFailsItsItemAndTheOthersSucceed) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2, 30s));
  auto pids = worker_pids();
  // One chunk of three: the worker's reply carries the two results that fit.
  auto outcomes = pool.map_outcomes(sized, std::vector<int64_t>{10, over_the_limit, 20}, 3);
  ASSERT_EQ(outcomes.size(), 3u);
  ASSERT_TRUE(outcomes[0]) << troupe::describe(outcomes[0].error());
  EXPECT_EQ(outcomes[0]->size(), 10u);
  ASSERT_FALSE(outcomes[1]);
  expect_too_large(outcomes[1].error(), "task 'frame_limit.sized' (item 1)");
  ASSERT_TRUE(outcomes[2]) << troupe::describe(outcomes[2].error());
  EXPECT_EQ(outcomes[2]->size(), 20u);

  auto one = pool.submit(sized, over_the_limit);
  ASSERT_TRUE(one.wait_for(30s));
  expect_too_large(one.error(), "task 'frame_limit.sized'");
  EXPECT_THROW(one.result(), troupe::task_error);
  EXPECT_EQ(pool.submit(sized, 5).result(30s), "xxxxx") << "the pool is usable after it";
  expect_no_worker_blamed(pool);
  EXPECT_EQ(worker_pids(), pids);
  for (auto pid : pids)
    EXPECT_TRUE(troupe::test::running(pid));
}

TEST_F(PoolFrameLimit, AnArgumentOverTheLimitFailsItsItemWithoutSendingIt) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2, 30s));
  auto pids = worker_pids();
  auto big = sized(over_the_limit);
  auto one = pool.submit(length, big);
  ASSERT_TRUE(one.wait_for(30s));
  expect_too_large(one.error(), "task 'frame_limit.length' (item 0): its arguments");

  // In a chunk of three, the large argument goes alone: only its item fails.
  auto outcomes = pool.map_outcomes(length, std::vector<std::string>{"a", big, "bcd", "ef"}, 3);
  ASSERT_EQ(outcomes.size(), 4u);
  ASSERT_FALSE(outcomes[1]);
  expect_too_large(outcomes[1].error(), "task 'frame_limit.length' (item 1)");
  for (size_t i : {0u, 2u, 3u}) {
    ASSERT_TRUE(outcomes[i]) << i << ": " << troupe::describe(outcomes[i].error());
    EXPECT_EQ(*outcomes[i], i == 0 ? 1 : i == 2 ? 3 : 2);
  }
  EXPECT_EQ(pool.apply(length, std::string{"four"}), 4);
  expect_no_worker_blamed(pool);
  EXPECT_EQ(worker_pids(), pids);
  for (auto pid : pids)
    EXPECT_TRUE(troupe::test::running(pid));
}

}  // namespace
