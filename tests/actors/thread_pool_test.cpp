// troupe::thread_pool with real threads: its workers are detached actors, so these tests
// coordinate tasks with gates and turnstiles instead of a test scheduler. Every wait is bounded
// (a stuck task fails its test, it does not hang it) and no test measures wall time.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "sync.hpp"
#include "troupe/actors/detail/current_pool_worker.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/actors/thread_pool.hpp"
#include "troupe/messages/config.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;
using namespace troupe::test;

class ThreadPool : public testing::Test {
protected:
  /// True once `worker` has terminated; waits at most the timeout.
  bool terminated(const caf::actor& worker) {
    return troupe::join_for(sys, worker, timeout).has_value();
  }

  troupe::config cfg;
  caf::actor_system sys{cfg};
};

// Blocks in a pool task until the gate opens, counted by the probe; returns the worker it ran on.
auto blocking_task(gate& release, concurrency_probe& probe) {
  return [&release, &probe] {
    probe.enter();
    release.pass();
    probe.leave();
    return troupe::detail::current_pool_worker();
  };
}

TEST_F(ThreadPool, SubmitPassesTheArgumentsAndReturnsTheValue) {
  troupe::thread_pool pool{sys, 2};
  auto fut = pool.submit(
      [](const std::string& word, int times) {
        std::string out;
        for (int i = 0; i < times; ++i)
          out += word;
        return out;
      },
      std::string{"ab"}, 3);
  ASSERT_TRUE(fut.wait_for(timeout));
  EXPECT_EQ(fut.result(), "ababab");
  EXPECT_FALSE(fut.error());
}

TEST_F(ThreadPool, MapReturnsResultsInInputOrder) {
  // Item x finishes only after item x + 1 has: completion order is the reverse of input order.
  constexpr int n = 6;
  troupe::thread_pool pool{sys, n};
  turnstile finishing;
  auto square = [&](const int& x) {
    if (!finishing.await(static_cast<size_t>(n - 1 - x)))
      throw std::runtime_error{"item " + std::to_string(x) + " never got its turn"};
    finishing.pass(x);
    return x * x;
  };
  std::vector<int> inputs(n);
  std::iota(inputs.begin(), inputs.end(), 0);
  auto results = pool.map(square, inputs);
  EXPECT_EQ(finishing.passed(), (std::vector<int>{5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(results, (std::vector<int>{0, 1, 4, 9, 16, 25}));
}

TEST_F(ThreadPool, MapRethrowsTheFirstFailureInInputOrderOnceEveryTaskFinished) {
  // Items 4, 2 and 5 finish in that order: map must report item 2 (first in input order, not in
  // time), and only after item 5 finished.
  troupe::thread_pool pool{sys, 6};
  turnstile finishing;
  std::atomic<int> finished{0};
  auto task = [&](const int& x) {
    const int turn = x == 4 ? 0 : x == 2 ? 1 : x == 5 ? 2 : -1;
    if (turn >= 0 && !finishing.await(static_cast<size_t>(turn)))
      throw std::runtime_error{"item " + std::to_string(x) + " never got its turn"};
    ++finished;
    if (turn >= 0)
      finishing.pass(x);
    if (x == 2 || x == 4)
      throw std::runtime_error{"item " + std::to_string(x)};
    return x;
  };
  try {
    pool.map(task, std::vector<int>{0, 1, 2, 3, 4, 5});
    FAIL() << "map returned despite two failed tasks";
  } catch (const std::runtime_error& ex) {
    EXPECT_STREQ(ex.what(), "item 2");
  }
  EXPECT_EQ(finished, 6);
}

TEST_F(ThreadPool, ExceptionReachesTheCallerAndThePoolKeepsWorking) {
  // One worker: the worker that saw the exception is the one that runs the next task.
  troupe::thread_pool pool{sys, 1};
  auto failing = pool.submit(
      [](int x) -> int { throw std::invalid_argument{"bad input " + std::to_string(x)}; }, 7);
  ASSERT_TRUE(failing.wait_for(timeout));
  try {
    failing.result();
    FAIL() << "result() returned instead of rethrowing";
  } catch (const std::invalid_argument& ex) {
    EXPECT_STREQ(ex.what(), "bad input 7");
  }
  auto err = failing.error();
  EXPECT_TRUE(troupe::is(err, errc::task_failed)) << troupe::describe(err);
  EXPECT_NE(troupe::describe(err).find("bad input 7"), std::string::npos) << troupe::describe(err);
  auto next = pool.submit([] { return 8; });
  ASSERT_TRUE(next.wait_for(timeout));
  EXPECT_EQ(next.result(), 8);
}

TEST_F(ThreadPool, NonStandardExceptionIsRethrownAsIs) {
  troupe::thread_pool pool{sys, 1};
  auto failing = pool.submit([]() -> int { throw 42; });
  ASSERT_TRUE(failing.wait_for(timeout));
  EXPECT_THROW(failing.result(), int);
  EXPECT_TRUE(troupe::is(failing.error(), errc::task_failed));
}

TEST_F(ThreadPool, AddDoneCallbackRunsOnceForEveryTask) {
  // Some callbacks are added while their task is pending, some after it finished.
  constexpr int n = 200;
  troupe::thread_pool pool{sys, 4};
  std::mutex mtx;
  std::vector<int> seen;
  for (int i = 0; i < n; ++i) {
    pool.submit([](int x) { return x; }, i).add_done_callback([&](const troupe::future<int>& f) {
      std::lock_guard<std::mutex> guard{mtx};
      seen.push_back(f.result());
    });
  }
  // A task's callbacks run inside the task, so once the pool drained they all ran.
  shutdown_within_timeout(pool);
  std::sort(seen.begin(), seen.end());
  std::vector<int> expected(n);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(seen, expected);
}

TEST_F(ThreadPool, ShutdownReturnsOnlyAfterEverySubmittedTaskRan) {
  constexpr int n = 1000;
  troupe::thread_pool pool{sys, 4};
  std::atomic<int> ran{0};
  std::vector<troupe::future<void>> futures;
  for (int i = 0; i < n; ++i)
    futures.push_back(pool.submit([&ran] { ++ran; }));
  shutdown_within_timeout(pool);
  EXPECT_EQ(ran, n);
  for (auto& fut : futures) {
    ASSERT_TRUE(fut.done());
    EXPECT_FALSE(fut.error());
  }
}

TEST_F(ThreadPool, ShutdownWithCancelFuturesCancelsQueuedTasksAndFinishesRunningOnes) {
  troupe::thread_pool pool{sys, 2};
  gate release;
  concurrency_probe probe;
  std::atomic<int> ran{0};
  auto blocking = [&](int x) {
    probe.enter();
    release.pass();
    probe.leave();
    return x;
  };
  auto first = pool.submit(blocking, 1);
  auto second = pool.submit(blocking, 2);
  ASSERT_TRUE(probe.started(2, timeout));  // both workers are busy: the rest stays queued
  std::vector<troupe::future<void>> queued;
  for (int i = 0; i < 5; ++i)
    queued.push_back(pool.submit([&ran] { ++ran; }));
  pool.shutdown({.wait = false, .cancel_futures = true});
  for (auto& fut : queued) {
    ASSERT_TRUE(fut.wait_for(timeout));
    EXPECT_TRUE(fut.cancelled());
    EXPECT_TRUE(troupe::is(fut.error(), errc::cancelled)) << troupe::describe(fut.error());
    EXPECT_THROW(fut.result(), troupe::task_error);
  }
  EXPECT_FALSE(first.done());
  EXPECT_FALSE(second.done());
  EXPECT_TRUE(first.running());
  EXPECT_FALSE(first.cancel());
  release.open();
  ASSERT_TRUE(first.wait_for(timeout));
  ASSERT_TRUE(second.wait_for(timeout));
  EXPECT_EQ(first.result(), 1);
  EXPECT_EQ(second.result(), 2);
  shutdown_within_timeout(pool);
  EXPECT_EQ(ran, 0);
}

TEST_F(ThreadPool, ShutdownWithoutWaitReturnsAndQueuedTasksStillRun) {
  troupe::thread_pool pool{sys, 1};
  gate release;
  auto blocked = pool.submit([&release] { return release.pass(); });
  auto queued = pool.submit([] { return 3; });
  pool.shutdown({.wait = false});  // must return although a task is blocked
  EXPECT_FALSE(blocked.done());
  release.open();
  ASSERT_TRUE(blocked.wait_for(timeout));
  EXPECT_TRUE(blocked.result());
  ASSERT_TRUE(queued.wait_for(timeout));
  EXPECT_EQ(queued.result(), 3);
}

TEST_F(ThreadPool, SubmitAfterShutdownThrowsPoolClosed) {
  troupe::thread_pool pool{sys, 1};
  shutdown_within_timeout(pool);
  try {
    pool.submit([] { return 1; });
    FAIL() << "submit after shutdown returned a future";
  } catch (const troupe::task_error& ex) {
    EXPECT_TRUE(troupe::is(ex.error(), errc::pool_closed)) << ex.what();
  }
  EXPECT_THROW(pool.map([](const int& x) { return x; }, std::vector<int>{1}), troupe::task_error);
}

TEST_F(ThreadPool, SubmitRacingShutdownEitherRunsTheTaskOrThrows) {
  troupe::thread_pool pool{sys, 2};
  std::atomic<int> accepted{0};
  std::atomic<int> ran{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 3; ++t) {
    submitters.emplace_back([&] {
      try {
        for (int i = 0; i < 20000; ++i) {
          pool.submit([&ran] { ++ran; });
          ++accepted;
        }
      } catch (const troupe::task_error& ex) {
        EXPECT_TRUE(troupe::is(ex.error(), errc::pool_closed)) << ex.what();
      }
    });
  }
  // Shut down while the submitters are busy (or after 30s, if they never got going).
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (accepted < 100 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  shutdown_within_timeout(pool);
  for (auto& t : submitters)
    t.join();
  EXPECT_EQ(ran, accepted);
}

TEST_F(ThreadPool, MaxWorkersBoundsTheTasksRunningAtOnce) {
  troupe::thread_pool pool{sys, 2};
  EXPECT_EQ(pool.max_workers(), 2u);
  gate release;
  concurrency_probe probe;
  std::vector<troupe::future<bool>> futures;
  for (int i = 0; i < 6; ++i) {
    futures.push_back(pool.submit([&] {
      probe.enter();
      auto released = release.pass();
      probe.leave();
      return released;
    }));
  }
  ASSERT_TRUE(probe.started(2, timeout));
  // While two tasks block, a third must not start: give a pool that ignores the bound a moment
  // to show it. A correct pool passes however long this is.
  EXPECT_FALSE(probe.started(3, 100ms));
  release.open();
  for (auto& fut : futures) {
    ASSERT_TRUE(fut.wait_for(timeout));
    EXPECT_TRUE(fut.result());
  }
  EXPECT_EQ(probe.peak(), 2);
}

TEST_F(ThreadPool, ZeroMaxWorkersIsRefused) {
  // As Python's ValueError: a pool without workers would accept tasks and never run them.
  EXPECT_THROW((troupe::thread_pool{sys, 0}), std::invalid_argument);
  troupe::thread_pool one{sys, 1};
  EXPECT_EQ(one.max_workers(), 1u);
  auto fut = one.submit([] { return 1; });
  ASSERT_TRUE(fut.wait_for(timeout));
  EXPECT_EQ(fut.result(), 1);
}

TEST_F(ThreadPool, TasksMayBlockOnEachOther) {
  // The first task blocks on a condition variable; the second signals it only once the first
  // is really waiting. With one worker for both, the first would time out and return false.
  troupe::thread_pool pool{sys, 2};
  std::mutex mtx;
  std::condition_variable cv;
  bool waiting = false;
  bool signaled = false;
  auto waiter = pool.submit([&] {
    std::unique_lock<std::mutex> guard{mtx};
    waiting = true;
    cv.notify_all();
    return cv.wait_for(guard, timeout, [&] { return signaled; });
  });
  auto signaler = pool.submit([&] {
    std::unique_lock<std::mutex> guard{mtx};
    if (!cv.wait_for(guard, timeout, [&] { return waiting; }))
      return false;
    signaled = true;
    cv.notify_all();
    return true;
  });
  ASSERT_TRUE(signaler.wait_for(timeout));
  ASSERT_TRUE(waiter.wait_for(timeout));
  EXPECT_TRUE(signaler.result());
  EXPECT_TRUE(waiter.result());
}

TEST_F(ThreadPool, TasksQueuedBehindABlockedTaskRunOnAnotherWorker) {
  // As with Python's shared queue, a task waits only while every worker is busy: once b's worker
  // is free, it runs everything submitted after a and b, although a still blocks.
  troupe::thread_pool pool{sys, 2};
  gate release_a;
  gate release_b;
  concurrency_probe probe;
  auto a = pool.submit(blocking_task(release_a, probe));
  auto b = pool.submit(blocking_task(release_b, probe));
  ASSERT_TRUE(probe.started(2, timeout));
  std::vector<troupe::future<int>> later;
  for (int i = 0; i < 10; ++i)
    later.push_back(pool.submit([](int x) { return x; }, i));
  release_b.open();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(later[i].wait_for(timeout)) << "task " << i << " waited behind the blocked one";
    EXPECT_EQ(later[i].result(), i);
  }
  EXPECT_FALSE(a.done());
  release_a.open();
  ASSERT_TRUE(a.wait_for(timeout));
}

TEST_F(ThreadPool, AWorkerKilledMidTaskFinishesItAndTheQueuedTasksStillRun) {
  // The only worker receives an exit message while its task runs and a thousand tasks wait in
  // the queue. The task finishes, every queued task runs (on the worker before it handles the
  // exit, then on its replacement), and the pool has a worker again afterwards.
  troupe::thread_pool pool{sys, 1};
  gate release;
  auto victim = pool.submit([&release] {
    auto self = troupe::detail::current_pool_worker();
    caf::anon_send_exit(self, caf::exit_reason::kill);
    release.pass();
    return self;
  });
  std::vector<troupe::future<int>> queued;
  for (int i = 0; i < 1000; ++i)
    queued.push_back(pool.submit([](int x) { return x * 2; }, i));
  release.open();
  ASSERT_TRUE(victim.wait_for(timeout));
  ASSERT_TRUE(victim.result() != nullptr);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(queued[i].wait_for(timeout)) << "queued task " << i << " was lost";
    EXPECT_EQ(queued[i].result(), i * 2);
  }
  ASSERT_TRUE(terminated(victim.result()));
  auto after = pool.submit([] { return troupe::detail::current_pool_worker(); });
  ASSERT_TRUE(after.wait_for(timeout));
  EXPECT_NE(after.result(), victim.result());
}

TEST_F(ThreadPool, AWorkerKilledWhileIdleIsReplacedSoThePoolKeepsItsCapacity) {
  constexpr int n = 3;
  troupe::thread_pool pool{sys, n};
  auto first = pool.submit([] { return troupe::detail::current_pool_worker(); });
  ASSERT_TRUE(first.wait_for(timeout));
  auto victim = first.result();
  ASSERT_TRUE(victim != nullptr);
  caf::anon_send_exit(victim, caf::exit_reason::kill);
  ASSERT_TRUE(terminated(victim));
  // n tasks that only finish together: they need n live workers at once.
  gate release;
  concurrency_probe probe;
  std::vector<troupe::future<caf::actor>> futures;
  for (int i = 0; i < n; ++i)
    futures.push_back(pool.submit(blocking_task(release, probe)));
  EXPECT_TRUE(probe.started(n, timeout)) << "the killed worker was not replaced";
  release.open();
  for (auto& fut : futures) {
    ASSERT_TRUE(fut.wait_for(timeout));
    EXPECT_NE(fut.result(), victim);
  }
}

TEST_F(ThreadPool, ALaterShutdownCanStillCancelTheQueuedTasks) {
  // As in Python, every shutdown(cancel_futures=true) cancels what is still queued.
  troupe::thread_pool pool{sys, 1};
  gate release;
  concurrency_probe probe;
  auto running = pool.submit(blocking_task(release, probe));
  ASSERT_TRUE(probe.started(1, timeout));
  auto queued = pool.submit([] { return 1; });
  pool.shutdown({.wait = false});
  pool.shutdown({.wait = false, .cancel_futures = true});
  ASSERT_TRUE(queued.wait_for(timeout));
  EXPECT_TRUE(troupe::is(queued.error(), errc::cancelled)) << troupe::describe(queued.error());
  release.open();
  ASSERT_TRUE(running.wait_for(timeout));
  EXPECT_FALSE(running.error());
  shutdown_within_timeout(pool);
}

}  // namespace
