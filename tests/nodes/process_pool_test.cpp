// The process pool on real worker processes: map, apply_async, imap_unordered, task failures,
// killed workers and the poison task.
#include <signal.h>

#include <atomic>
#include <numeric>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>

#include "head_fixture.hpp"
#include "subprocess.hpp"
#include "troupe/nodes/pool/process_pool.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;

// A generous heartbeat timeout: no test here wants a busy worker declared down by mistake.
struct ProcessPool : troupe::test::head_fixture {
  ProcessPool() : head_fixture(1500ms) {}
};

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> xs(static_cast<size_t>(n));
  std::iota(xs.begin(), xs.end(), 0);
  return xs;
}

int64_t square(int64_t x) {
  return x * x;
}

TEST_F(ProcessPool, MapEqualsTheSequentialResult) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto xs = iota(1000);
  auto results = pool.map<int64_t>("square", xs);
  ASSERT_EQ(results.size(), xs.size());
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_EQ(results[i], square(xs[i]));
}

TEST_F(ProcessPool, MapOfManyTinyTasksIsChunkedAndOrdered) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto xs = iota(200'000);
  auto results = pool.map<int64_t>("square", xs);
  ASSERT_EQ(results.size(), xs.size());
  EXPECT_TRUE(std::equal(results.begin(), results.end(), xs.begin(),
                         [](int64_t r, int64_t x) { return r == x * x; }));
}

TEST_F(ProcessPool, ApplyAsyncRunsEveryCallbackOnce) {
  troupe::process_pool pool{head, {.workers = 2}};
  std::atomic<int64_t> sum{0};
  std::atomic<int> calls{0};
  std::vector<troupe::future<int64_t>> futures;
  for (int64_t i = 0; i < 500; ++i) {
    auto f = pool.apply_async<int64_t>("square", i);
    f.add_done_callback([&](const troupe::future<int64_t>& done) {
      sum += done.result();
      ++calls;
    });
    futures.push_back(f);
  }
  for (auto& f : futures)
    ASSERT_TRUE(f.wait_for(30s));
  // Callbacks run right after their future completes, on the pool's callback thread.
  for (int i = 0; i < 1000 && calls.load() < 500; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(calls.load(), 500);
  int64_t expected = 0;
  for (int64_t i = 0; i < 500; ++i)
    expected += i * i;
  EXPECT_EQ(sum.load(), expected);
}

TEST_F(ProcessPool, TaskExceptionReachesTheCallerAndTheWorkerSurvives) {
  troupe::process_pool pool{head, {.workers = 1}};
  ASSERT_TRUE(pool.wait_for_workers(1));
  auto before = worker_pids();
  auto f = pool.apply_async<int64_t>("fail_on_13", int64_t{13});
  ASSERT_TRUE(f.wait_for(30s));
  ASSERT_TRUE(f.error());
  EXPECT_TRUE(troupe::is(f.error(), errc::task_failed));
  EXPECT_NE(troupe::describe(f.error()).find("unlucky 13"), std::string::npos);
  // The task's std::runtime_error arrives as itself, with its message.
  EXPECT_THROW(f.result(), std::runtime_error);
  try {
    pool.map<int64_t>("fail_on_13", iota(20));
    FAIL() << "map did not raise";
  } catch (const troupe::task_error& e) {
    FAIL() << "the exception lost its type: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "unlucky 13");
  }
  auto each = pool.map_outcomes<int64_t>("fail_on_13", iota(20));
  ASSERT_FALSE(each[13]);
  EXPECT_NE(troupe::describe(each[13].error()).find("item 13"), std::string::npos)
      << troupe::describe(each[13].error());
  EXPECT_EQ(pool.map<int64_t>("square", iota(3)), (std::vector<int64_t>{0, 1, 4}));
  EXPECT_EQ(worker_pids(), before);
  EXPECT_EQ(pool.stats().worker_deaths, 0u);
}

TEST_F(ProcessPool, ImapUnorderedDeliversEveryItemOnce) {
  troupe::process_pool pool{head, {.workers = 2}};
  std::multiset<int64_t> seen;
  for (auto v : pool.imap_unordered<int64_t>("square", iota(100), 7))
    seen.insert(v);
  std::multiset<int64_t> expected;
  for (auto x : iota(100))
    expected.insert(x * x);
  EXPECT_EQ(seen, expected);
}

TEST_F(ProcessPool, KilledWorkerMidMapStillYieldsEveryResultOnceInOrder) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2));
  auto victim = worker_pids().front();
  std::thread killer{[victim] {
    std::this_thread::sleep_for(300ms);
    kill(victim, SIGKILL);
  }};
  // 400 tasks of 2 ms each: about 400 ms of work per worker, so the kill lands mid-map.
  std::vector<int64_t> xs(400, 2000);
  auto results = pool.map<int64_t>("spin_us", xs, 1);
  killer.join();
  EXPECT_EQ(results, xs);
  auto stats = pool.stats();
  EXPECT_GE(stats.worker_deaths, 1u);
  EXPECT_GE(stats.respawned, 1u);
  EXPECT_GE(stats.redispatched, 1u);
  EXPECT_TRUE(troupe::test::wait_gone(victim, 10s));
}

TEST_F(ProcessPool, PoisonTaskFailsAfterMaxKillsNamingTheTask) {
  troupe::process_pool pool{head, {.workers = 2, .max_kills = 3}};
  auto f = pool.apply_async<int64_t>("crash", int64_t{-1});
  ASSERT_TRUE(f.wait_for(60s)) << "the poison task looped";
  ASSERT_TRUE(f.error());
  EXPECT_TRUE(troupe::is(f.error(), errc::worker_lost)) << troupe::describe(f.error());
  EXPECT_NE(troupe::describe(f.error()).find("'crash'"), std::string::npos);
  EXPECT_EQ(pool.stats().worker_deaths, 3u);
  // The pool recovered: fresh workers answer.
  EXPECT_EQ(pool.map<int64_t>("square", iota(4)), (std::vector<int64_t>{0, 1, 4, 9}));
}

TEST_F(ProcessPool, LongAndShortTasksKeepEveryWorkerBusy) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2));
  // One 1 s task, then 60 tasks of 1 ms: the worker stuck on the long task must not hoard the
  // short ones (the other worker needs about 60 ms for them: a wide margin on a busy machine).
  std::vector<int64_t> xs{1'000'000};
  xs.insert(xs.end(), 60, 1000);
  pool.map<int64_t>("spin_us", xs, 1);
  auto stats = pool.stats();
  ASSERT_EQ(stats.items_per_worker.size(), 2u);
  auto counts = std::minmax(stats.items_per_worker.begin()->second,
                            std::next(stats.items_per_worker.begin())->second);
  // The long task's worker runs it and at most the few queued behind it.
  EXPECT_LE(counts.first, 4u);
  EXPECT_GE(counts.second, 57u);
}

TEST_F(ProcessPool, UnregisteredFunctionIsRejectedAtTheCallSite) {
  troupe::process_pool pool{head, {.workers = 1}};
  auto cube = +[](int64_t x) { return x * x * x; };
  EXPECT_THROW(pool.map(cube, iota(3)), std::invalid_argument);
  EXPECT_THROW(pool.map<std::string>("square", iota(3)), std::invalid_argument);
}

TEST_F(ProcessPool, CloseRefusesNewTasksAndJoinStopsTheWorkers) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2));
  auto pids = worker_pids();
  auto last = pool.apply_async<int64_t>("square", int64_t{7});
  pool.close();
  auto refused = pool.apply_async<int64_t>("square", int64_t{8});
  pool.join();
  EXPECT_EQ(last.result(), 49);
  ASSERT_TRUE(refused.wait_for(10s));
  EXPECT_TRUE(troupe::is(refused.error(), errc::pool_closed));
  for (auto pid : pids)
    EXPECT_TRUE(troupe::test::wait_gone(pid, 10s));
}

}  // namespace
