// troupe::future without any pool: the tests complete futures by hand through their shared
// state, so completion order and completing thread are chosen by the test. Covers result(),
// error(), add_done_callback's "once, and in which thread" contract and as_completed's order.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "troupe/actors/future.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;

constexpr auto timeout = 30s;

template <class T>
troupe::future<T> pending() {
  return troupe::detail::future_access::make_pending<T>();
}

template <class T>
const auto& state(const troupe::future<T>& f) {
  return troupe::detail::future_access::state(f);
}

TEST(Future, ResultReturnsTheValue) {
  auto fut = pending<int>();
  EXPECT_FALSE(fut.done());
  EXPECT_TRUE(state(fut)->set_value(42));
  EXPECT_TRUE(fut.done());
  EXPECT_EQ(fut.result(), 42);
  EXPECT_FALSE(fut.error());
}

TEST(Future, WaitForReturnsFalseWhilePending) {
  auto fut = pending<int>();
  EXPECT_FALSE(fut.wait_for(1ms));
  state(fut)->set_value(1);
  EXPECT_TRUE(fut.wait_for(0ms));
}

TEST(Future, ResultWaitsForACompletionFromAnotherThread) {
  auto fut = pending<std::string>();
  std::thread completer{[st = state(fut)] { st->set_value("late"); }};
  ASSERT_TRUE(fut.wait_for(timeout));
  EXPECT_EQ(fut.result(), "late");
  completer.join();
}

TEST(Future, ResultRethrowsTheExceptionWithItsTypeAndMessage) {
  auto fut = pending<int>();
  state(fut)->set_exception(std::make_exception_ptr(std::out_of_range{"index 9"}),
                            troupe::make_error(errc::task_failed, "index 9"));
  try {
    fut.result();
    FAIL() << "result() returned instead of throwing";
  } catch (const std::out_of_range& ex) {
    EXPECT_STREQ(ex.what(), "index 9");
  }
  auto err = fut.error();
  EXPECT_TRUE(troupe::is(err, errc::task_failed)) << troupe::describe(err);
  EXPECT_NE(troupe::describe(err).find("index 9"), std::string::npos) << troupe::describe(err);
}

TEST(Future, ResultThrowsTaskErrorForAFailureWithoutException) {
  auto fut = pending<void>();
  state(fut)->set_error(troupe::make_error(errc::cancelled, "shut down"));
  try {
    fut.result();
    FAIL() << "result() returned instead of throwing";
  } catch (const troupe::task_error& ex) {
    EXPECT_TRUE(troupe::is(ex.error(), errc::cancelled)) << ex.what();
  }
  EXPECT_TRUE(troupe::is(fut.error(), errc::cancelled));
}

TEST(Future, OnlyTheFirstCompletionCounts) {
  auto fut = pending<int>();
  EXPECT_TRUE(state(fut)->set_value(1));
  EXPECT_FALSE(state(fut)->set_value(2));
  EXPECT_FALSE(state(fut)->set_error(troupe::make_error(errc::cancelled)));
  EXPECT_EQ(fut.result(), 1);
  EXPECT_FALSE(fut.error());
}

TEST(Future, CopiesShareOneResult) {
  auto fut = pending<int>();
  auto copy = fut;
  state(fut)->set_value(7);
  EXPECT_TRUE(copy.done());
  EXPECT_EQ(copy.result(), 7);
}

TEST(Future, CallbackAddedBeforeCompletionRunsOnceInTheCompletingThread) {
  auto fut = pending<int>();
  std::atomic<int> calls{0};
  int seen = 0;
  std::thread::id ran_in;
  fut.add_done_callback([&](const troupe::future<int>& done) {
    ++calls;
    seen = done.result();
    ran_in = std::this_thread::get_id();
  });
  EXPECT_EQ(calls, 0);
  std::thread completer{[st = state(fut)] {
    st->set_value(5);
    st->set_value(6);  // ignored: must not run the callback again
  }};
  auto completer_id = completer.get_id();
  completer.join();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, 5);
  EXPECT_EQ(ran_in, completer_id);
}

TEST(Future, CallbackAddedAfterCompletionRunsAtOnceInTheCallersThread) {
  auto fut = pending<int>();
  state(fut)->set_value(3);
  int calls = 0;
  std::thread::id ran_in;
  fut.add_done_callback([&](const troupe::future<int>& done) {
    ++calls;
    EXPECT_EQ(done.result(), 3);
    ran_in = std::this_thread::get_id();
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ran_in, std::this_thread::get_id());
}

// A future nobody completes and nobody holds is freed with its callbacks: the callback does not
// own the future it is registered on (it did, and such a pair leaked).
TEST(Future, APendingFutureWithACallbackIsFreedWhenTheLastHandleGoes) {
  auto fut = pending<int>();
  auto resource = std::make_shared<int>(7);
  std::weak_ptr<int> watch_resource = resource;
  std::weak_ptr watch_state = state(fut);
  fut.add_done_callback([resource = std::move(resource)](const troupe::future<int>&) {});
  fut = {};
  EXPECT_TRUE(watch_state.expired());
  EXPECT_TRUE(watch_resource.expired()) << "the callback was freed with its future";
}

// A callback handed to an executor runs after the completing call returned, possibly when no
// handle of the future is left: it still gets the completed future.
TEST(Future, ACallbackRunByAnExecutorOutlivesTheLastHandle) {
  auto fut = pending<int>();
  std::function<void()> later;
  state(fut)->set_callback_executor(
      [&later](std::function<void()> run) { later = std::move(run); });
  int seen = 0;
  fut.add_done_callback([&seen](const troupe::future<int>& done) { seen = done.result(); });
  std::weak_ptr watch_state = state(fut);
  {
    auto producer = state(fut);
    fut = {};
    producer->set_value(9);
  }
  ASSERT_TRUE(later) << "completion handed the callbacks to the executor";
  EXPECT_FALSE(watch_state.expired()) << "the pending run keeps the state";
  later();
  EXPECT_EQ(seen, 9);
  later = nullptr;
  EXPECT_TRUE(watch_state.expired());
}

// A callback that throws must not keep later callbacks (e.g. as_completed's) from running.
TEST(Future, ACallbackThatThrowsDoesNotStopTheOthers) {
  auto fut = pending<int>();
  int calls = 0;
  fut.add_done_callback([](const troupe::future<int>&) { throw std::runtime_error{"callback"}; });
  fut.add_done_callback([&calls](const troupe::future<int>&) { ++calls; });
  try {
    state(fut)->set_value(1);
  } catch (const std::runtime_error&) {
    // Whether the completer sees the exception is not the point here.
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(fut.result(), 1);
}

// A future's identity is its position in the vector, recovered from the address yielded.
size_t position(const troupe::future<int>& fut, const std::vector<troupe::future<int>>& all) {
  return static_cast<size_t>(&fut - all.data());
}

TEST(Future, AsCompletedYieldsEveryFutureOnceInCompletionOrder) {
  std::vector<troupe::future<int>> futures;
  for (int i = 0; i < 4; ++i)
    futures.push_back(pending<int>());
  troupe::as_completed<int> iteration{futures};
  for (size_t i : {2, 0, 3, 1})
    state(futures[i])->set_value(static_cast<int>(i));
  std::vector<size_t> order;
  for (auto& fut : iteration)
    order.push_back(position(fut, futures));
  EXPECT_EQ(order, (std::vector<size_t>{2, 0, 3, 1}));
}

TEST(Future, AsCompletedWaitsForEachNextCompletion) {
  // The completer finishes one future per step the loop takes, so every step of the loop has
  // to block until the next future is done.
  std::vector<troupe::future<int>> futures;
  for (int i = 0; i < 4; ++i)
    futures.push_back(pending<int>());
  const std::vector<size_t> chosen{3, 1, 0, 2};
  std::mutex mtx;
  std::condition_variable cv;
  size_t consumed = 0;
  std::thread completer{[&] {
    for (size_t k = 0; k < chosen.size(); ++k) {
      std::unique_lock<std::mutex> guard{mtx};
      // On a stall, complete the rest anyway: the loop must end for the test to report it.
      cv.wait_for(guard, timeout, [&] { return consumed == k; });
      guard.unlock();
      state(futures[chosen[k]])->set_value(static_cast<int>(k));
    }
  }};
  std::vector<size_t> order;
  for (auto& fut : troupe::as_completed(futures)) {
    EXPECT_TRUE(fut.done());
    order.push_back(position(fut, futures));
    std::lock_guard<std::mutex> guard{mtx};
    ++consumed;
    cv.notify_all();
  }
  completer.join();
  EXPECT_EQ(order, chosen);
}

TEST(Future, AsCompletedYieldsFuturesDoneBeforehandFirst) {
  std::vector<troupe::future<int>> futures;
  for (int i = 0; i < 3; ++i)
    futures.push_back(pending<int>());
  state(futures[1])->set_value(1);
  troupe::as_completed<int> iteration{futures};
  std::thread completer{[&] {
    state(futures[2])->set_value(2);
    state(futures[0])->set_value(0);
  }};
  std::vector<size_t> order;
  for (auto& fut : iteration)
    order.push_back(position(fut, futures));
  completer.join();
  EXPECT_EQ(order, (std::vector<size_t>{1, 2, 0}));
}

TEST(Future, AsCompletedOfNothingYieldsNothing) {
  std::vector<troupe::future<int>> none;
  size_t steps = 0;
  for ([[maybe_unused]] auto& fut : troupe::as_completed(none))
    ++steps;
  EXPECT_EQ(steps, 0u);
}

TEST(Future, ADefaultConstructedFutureIsAnErrorNotACrash) {
  troupe::future<int> none;
  EXPECT_FALSE(none.valid());
  EXPECT_THROW(static_cast<void>(none.done()), std::logic_error);
  EXPECT_THROW(static_cast<void>(none.result()), std::logic_error);
  EXPECT_THROW(static_cast<void>(none.cancel()), std::logic_error);
}

}  // namespace
