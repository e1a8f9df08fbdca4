// troupe::thread_pool as concurrent.futures' Executor: map over several inputs, futures that
// report running() and can be cancelled while queued, the thread that runs their callbacks, and
// wait() over pool futures. Real threads, coordinated with gates (sync.hpp); no timing.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>

#include "sync.hpp"
#include "troupe/actors/thread_pool.hpp"
#include "troupe/messages/config.hpp"

namespace {

using troupe::errc;
using namespace troupe::test;

class ThreadPoolExecutor : public testing::Test {
protected:
  troupe::config cfg;
  caf::actor_system sys{cfg};
};

TEST_F(ThreadPoolExecutor, MapTakesSeveralInputsSideBySideAndTheShortestWins) {
  troupe::thread_pool pool{sys, 2};
  std::vector<int> xs{1, 2, 3};
  std::list<int> ys{10, 20};
  auto sums = pool.map([](int x, int y) { return x + y; }, xs, ys);
  EXPECT_EQ(sums, (std::vector<int>{11, 22}));
  auto labels = pool.map([](const std::string& word, int n) { return word + std::to_string(n); },
                         std::vector<std::string>{"a", "b", "c"}, std::array<int, 3>{1, 2, 3});
  EXPECT_EQ(labels, (std::vector<std::string>{"a1", "b2", "c3"}));
}

TEST_F(ThreadPoolExecutor, MapAcceptsAnyInputRange) {
  troupe::thread_pool pool{sys, 2};
  auto squares = pool.map([](int x) { return x * x; }, std::views::iota(1, 5));
  EXPECT_EQ(squares, (std::vector<int>{1, 4, 9, 16}));
  auto lengths = pool.map([](const std::string& s) { return s.size(); },
                          std::set<std::string>{"ccc", "a", "bb"});
  EXPECT_EQ(lengths, (std::vector<size_t>{1, 2, 3}));  // a set's order
  EXPECT_TRUE(pool.map([](int x) { return x; }, std::vector<int>{}).empty());
}

TEST_F(ThreadPoolExecutor, MapOfAVoidFunctionRunsEveryTaskThenRethrowsTheFirstFailure) {
  troupe::thread_pool pool{sys, 2};
  std::atomic<int> ran{0};
  auto touch = [&ran](int x) {
    ++ran;
    if (x == 2 || x == 4)
      throw std::out_of_range{"item " + std::to_string(x)};
  };
  try {
    pool.map(touch, std::vector<int>{1, 2, 3, 4, 5});
    FAIL() << "map did not rethrow";
  } catch (const std::out_of_range& ex) {
    EXPECT_STREQ(ex.what(), "item 2");
  }
  EXPECT_EQ(ran, 5);
}

TEST_F(ThreadPoolExecutor, SubmitHandsMoveOnlyArgumentsToTheTask) {
  troupe::thread_pool pool{sys, 1};
  auto fut = pool.submit([](std::unique_ptr<int> p) { return *p + 1; }, std::make_unique<int>(41));
  EXPECT_EQ(fut.result(timeout), 42);
}

TEST_F(ThreadPoolExecutor, AFutureIsRunningOnlyWhileItsTaskRuns) {
  troupe::thread_pool pool{sys, 1};
  gate started;
  gate release;
  auto blocker = pool.submit([&] {
    started.open();
    return release.pass();
  });
  auto queued = pool.submit([] { return 2; });
  ASSERT_TRUE(started.pass());
  EXPECT_TRUE(blocker.running());
  EXPECT_FALSE(queued.running());  // the only worker is busy: it waits in the queue
  EXPECT_FALSE(blocker.cancel());  // running: too late
  EXPECT_FALSE(blocker.cancelled());
  release.open();
  EXPECT_TRUE(blocker.result(timeout));
  EXPECT_EQ(queued.result(timeout), 2);
  EXPECT_FALSE(blocker.running());
  EXPECT_FALSE(queued.running());
}

TEST_F(ThreadPoolExecutor, ACancelledQueuedTaskNeverRunsAndThePoolCarriesOn) {
  troupe::thread_pool pool{sys, 1};
  gate started;
  gate release;
  std::atomic<int> ran{0};
  auto blocker = pool.submit([&] {
    started.open();
    return release.pass();
  });
  ASSERT_TRUE(started.pass());
  auto victim = pool.submit([&ran] { return ++ran; });
  auto after = pool.submit([] { return 3; });
  EXPECT_TRUE(victim.cancel());
  EXPECT_TRUE(victim.cancel());  // again: still cancelled, as in Python
  EXPECT_TRUE(victim.cancelled());
  EXPECT_TRUE(victim.done());
  EXPECT_FALSE(victim.running());
  EXPECT_TRUE(troupe::is(victim.error(), errc::cancelled)) << troupe::describe(victim.error());
  EXPECT_THROW(victim.result(), troupe::task_error);
  release.open();
  // Tasks start in submission order: once `after` ran, the worker has passed the victim.
  EXPECT_EQ(after.result(timeout), 3);
  EXPECT_EQ(ran, 0);
  EXPECT_TRUE(blocker.result(timeout));
}

TEST_F(ThreadPoolExecutor, ACancelledTasksCallbackRunsInTheCancellingThread) {
  troupe::thread_pool pool{sys, 1};
  gate started;
  gate release;
  auto blocker = pool.submit([&] {
    started.open();
    return release.pass();
  });
  ASSERT_TRUE(started.pass());
  auto victim = pool.submit([] { return 1; });
  std::thread::id ran_in;
  int calls = 0;
  victim.add_done_callback([&](const troupe::future<int>& f) {
    ++calls;
    EXPECT_TRUE(f.cancelled());
    ran_in = std::this_thread::get_id();
  });
  ASSERT_TRUE(victim.cancel());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ran_in, std::this_thread::get_id());
  release.open();
  EXPECT_TRUE(blocker.result(timeout));
  shutdown_within_timeout(pool);
  EXPECT_EQ(calls, 1);  // the skipped task does not complete it again
}

TEST_F(ThreadPoolExecutor, ACallbackAddedBeforeCompletionRunsInTheWorkerThreadThatRanTheTask) {
  troupe::thread_pool pool{sys, 1};
  gate release;
  std::mutex mtx;
  std::thread::id task_thread;
  std::thread::id callback_thread;
  auto fut = pool.submit([&] {
    {
      std::lock_guard<std::mutex> guard{mtx};
      task_thread = std::this_thread::get_id();
    }
    return release.pass();
  });
  gate called;
  fut.add_done_callback([&](const troupe::future<bool>&) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      callback_thread = std::this_thread::get_id();
    }
    called.open();
  });
  release.open();
  ASSERT_TRUE(called.pass());
  std::lock_guard<std::mutex> guard{mtx};
  EXPECT_EQ(callback_thread, task_thread);
  EXPECT_NE(callback_thread, std::this_thread::get_id());
}

TEST_F(ThreadPoolExecutor, ABlockedCallbackHoldsOnlyTheWorkerThatRunsIt) {
  // Python's rule for a thread pool: the callback runs in the worker thread, so a slow one costs
  // that worker and nothing else. Here it blocks until the test has seen every other task done.
  troupe::thread_pool pool{sys, 2};
  gate registered;
  gate callback_entered;
  gate release_callback;
  auto slow = pool.submit([&registered] { return registered.pass() ? 0 : -1; });
  std::thread::id callback_thread;
  slow.add_done_callback([&](const troupe::future<int>&) {
    callback_thread = std::this_thread::get_id();
    callback_entered.open();
    release_callback.pass();
  });
  registered.open();  // the task completes only now: the callback runs on its worker
  ASSERT_TRUE(callback_entered.pass());
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  std::vector<troupe::future<int>> others;
  for (int i = 1; i <= 100; ++i)
    others.push_back(pool.submit([](int x) { return x; }, i));
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(others[i].result(timeout), i + 1) << "task " << i << " waited for the callback";
  release_callback.open();
  shutdown_within_timeout(pool);
}

TEST_F(ThreadPoolExecutor, ExceptionReturnsTheTasksOwnException) {
  troupe::thread_pool pool{sys, 1};
  auto ok = pool.submit([] { return 1; });
  auto bad = pool.submit([]() -> int { throw std::invalid_argument{"no"}; });
  EXPECT_EQ(ok.exception(timeout), nullptr);
  auto ex = bad.exception(timeout);
  ASSERT_NE(ex, nullptr);
  try {
    std::rethrow_exception(ex);
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "no");
  }
}

TEST_F(ThreadPoolExecutor, WaitFirstCompletedReturnsWhileATaskIsStillBlocked) {
  troupe::thread_pool pool{sys, 2};
  gate release;
  std::vector<troupe::future<int>> futures;
  futures.push_back(pool.submit([&release] { return release.pass() ? 1 : 0; }));
  futures.push_back(pool.submit([] { return 2; }));
  auto [done, not_done] = troupe::wait(futures, troupe::return_when::first_completed, timeout);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0] == futures[1]);
  ASSERT_EQ(not_done.size(), 1u);
  EXPECT_TRUE(not_done[0] == futures[0]);
  release.open();
  auto all = troupe::wait(futures, troupe::return_when::all_completed, timeout);
  EXPECT_EQ(all.done.size(), 2u);
  EXPECT_TRUE(all.not_done.empty());
}

TEST_F(ThreadPoolExecutor, ShutdownWithDefaultOptionsWaitsAndCancelsNothing) {
  troupe::shutdown_options defaults;
  EXPECT_TRUE(defaults.wait);
  EXPECT_FALSE(defaults.cancel_futures);
  troupe::thread_pool pool{sys, 1};
  gate release;
  auto first = pool.submit([&release] { return release.pass(); });
  auto queued = pool.submit([] { return 5; });
  std::thread opener{[&release] { release.open(); }};
  shutdown_within_timeout(pool);  // pool.shutdown() on a watched thread
  opener.join();
  EXPECT_TRUE(first.done());
  EXPECT_TRUE(queued.done());
  EXPECT_FALSE(queued.cancelled());
  EXPECT_EQ(queued.result(), 5);
}

}  // namespace
