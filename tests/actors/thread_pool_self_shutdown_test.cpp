// A thread pool shut down or destroyed from one of its own tasks: waiting there would wait for
// the calling task itself, so shutdown() throws std::logic_error and changes nothing, while
// shutdown({.wait = false}) and a destructor running on a worker close the pool without waiting.
// Every wait is bounded: a deadlock fails (or aborts) the run instead of hanging it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "sync.hpp"
#include "troupe/actors/detail/current_pool_worker.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/actors/thread_pool.hpp"
#include "troupe/messages/config.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;
using namespace troupe::test;

class ThreadPoolSelfShutdown : public testing::Test {
protected:
  /// True once `worker` has terminated; waits at most the timeout.
  bool terminated(const caf::actor& worker) {
    return troupe::join_for(sys, worker, timeout).has_value();
  }

  troupe::config cfg;
  caf::actor_system sys{cfg};
};

// What a shutdown() call inside the pool did: "returned", or the logic_error's message.
std::string try_shutdown(troupe::thread_pool& pool, troupe::shutdown_options options = {}) {
  try {
    pool.shutdown(options);
    return "returned";
  } catch (const std::logic_error& ex) {
    return ex.what();
  }
}

// ~thread_pool waits without a timeout of its own: it runs on a helper thread, and a hang ends
// the test run with a message (the pool's threads could not be torn down then).
void destroy_within_timeout(std::unique_ptr<troupe::thread_pool> pool) {
  auto returned = std::make_shared<std::promise<void>>();
  auto done = returned->get_future();
  std::thread{[pool = std::move(pool), returned]() mutable {
    pool.reset();
    returned->set_value();
  }}.detach();
  if (done.wait_for(timeout) != std::future_status::ready) {
    std::fprintf(stderr, "~thread_pool still blocked after 30s\n");
    std::abort();
  }
}

TEST_F(ThreadPoolSelfShutdown, WaitingFromItsOwnTaskThrowsAndLeavesThePoolOpen) {
  troupe::thread_pool pool{sys, 2};
  auto fut = pool.submit([&pool] { return try_shutdown(pool); });
  ASSERT_TRUE(fut.wait_for(timeout));
  auto message = fut.result();
  EXPECT_NE(message.find("own tasks"), std::string::npos) << message;
  EXPECT_NE(message.find("shutdown({.wait = false})"), std::string::npos) << message;
  // The call that threw changed nothing: the pool takes work, then shuts down from outside.
  auto after = pool.submit([] { return 2; });
  ASSERT_TRUE(after.wait_for(timeout));
  EXPECT_EQ(after.result(), 2);
  shutdown_within_timeout(pool);
  EXPECT_THROW(pool.submit([] { return 3; }), troupe::task_error);
}

TEST_F(ThreadPoolSelfShutdown, TheThrowReachesTheFutureAndTheDestructorStillReturns) {
  // The attack's shape: the task does not catch, and the pool is left to its destructor.
  auto pool = std::make_unique<troupe::thread_pool>(sys, 1);
  auto fut = pool->submit([&inner = *pool] {
    inner.shutdown();
    return 1;
  });
  ASSERT_TRUE(fut.wait_for(timeout));
  EXPECT_THROW(fut.result(), std::logic_error);
  EXPECT_TRUE(troupe::is(fut.error(), errc::task_failed)) << troupe::describe(fut.error());
  destroy_within_timeout(std::move(pool));
}

TEST_F(ThreadPoolSelfShutdown, WaitingFromADoneCallbackOnItsWorkerThrows) {
  troupe::thread_pool pool{sys, 2};
  gate release;
  auto fut = pool.submit([&release] { return release.pass(); });
  std::promise<std::string> outcome;
  auto seen = outcome.get_future();
  // Added while the task is blocked, so the callback runs on the worker, right after the task.
  fut.add_done_callback([&pool, &outcome](auto&) { outcome.set_value(try_shutdown(pool)); });
  release.open();
  ASSERT_EQ(seen.wait_for(timeout), std::future_status::ready);
  auto message = seen.get();
  EXPECT_NE(message.find("shutdown({.wait = false})"), std::string::npos) << message;
  EXPECT_TRUE(fut.result());
  shutdown_within_timeout(pool);
}

TEST_F(ThreadPoolSelfShutdown, ShutdownWithoutWaitFromItsOwnTaskClosesThePool) {
  troupe::thread_pool pool{sys, 1};
  gate release;
  // One worker: the second task is queued behind the first, which closes the pool.
  auto closer = pool.submit([&pool, &release] {
    release.pass();  // the second task is queued before the pool closes
    return try_shutdown(pool, {.wait = false});
  });
  auto queued = pool.submit([] { return 7; });
  release.open();
  ASSERT_TRUE(closer.wait_for(timeout));
  EXPECT_EQ(closer.result(), "returned");
  ASSERT_TRUE(queued.wait_for(timeout));
  EXPECT_EQ(queued.result(), 7);  // a shutdown without cancel_futures lets queued tasks run
  EXPECT_THROW(pool.submit([] { return 8; }), troupe::task_error);
  shutdown_within_timeout(pool);
}

TEST_F(ThreadPoolSelfShutdown, WaitingForAnotherPoolFromATaskIsAllowed) {
  // Only a pool's own workers may not wait for it.
  troupe::thread_pool outer{sys, 1};
  troupe::thread_pool inner{sys, 1};
  auto started = inner.submit([] { return 5; });
  auto fut = outer.submit([&inner] { return try_shutdown(inner); });
  ASSERT_TRUE(fut.wait_for(timeout));
  EXPECT_EQ(fut.result(), "returned");
  ASSERT_TRUE(started.wait_for(0s));  // inner's shutdown waited for it
  EXPECT_EQ(started.result(), 5);
  shutdown_within_timeout(outer);
}

// Holds the last handle to a pool inside one of its tasks; its destructor runs on the worker
// that ran the task, and reports once the pool's destructor has returned.
struct last_owner {
  std::shared_ptr<troupe::thread_pool> pool;
  std::shared_ptr<std::promise<void>> destroyed;

  last_owner(std::shared_ptr<troupe::thread_pool> p, std::shared_ptr<std::promise<void>> d)
      : pool(std::move(p)), destroyed(std::move(d)) {}
  last_owner(last_owner&&) = default;
  last_owner(const last_owner&) = delete;
  ~last_owner() {
    if (destroyed == nullptr)
      return;  // moved from
    pool.reset();
    destroyed->set_value();
  }
};

TEST_F(ThreadPoolSelfShutdown, DestroyedOnItsOwnWorkerItClosesWithoutWaitingAndFinishes) {
  auto pool = std::make_shared<troupe::thread_pool>(sys, 1);
  auto destroyed = std::make_shared<std::promise<void>>();
  auto pool_gone = destroyed->get_future();
  gate release;
  auto fut = pool->submit([owner = last_owner{pool, destroyed}, &release] {
    release.pass();
    return troupe::detail::current_pool_worker();
  });
  pool.reset();  // the task now holds the only handle
  release.open();
  ASSERT_TRUE(fut.wait_for(timeout));
  auto worker = fut.result();
  ASSERT_TRUE(worker);
  if (pool_gone.wait_for(timeout) != std::future_status::ready) {
    std::fprintf(stderr, "~thread_pool on its own worker still blocked after 30s\n");
    std::abort();  // the worker is stuck: the actor system could not shut down either
  }
  // Closed and drained, the pool stops its workers by itself.
  EXPECT_TRUE(terminated(worker));
}

}  // namespace
