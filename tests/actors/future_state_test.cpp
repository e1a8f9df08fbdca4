// A future's life from the producer's side, with no pool: the test plays the producer through
// detail::future_access, so every transition (start, cancel, completion) happens when the test
// says. Covers running(), cancel()/cancelled(), set_running_or_notify_cancel, exception() and
// equality.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "troupe/actors/future.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;

template <class T>
troupe::future<T> pending() {
  return troupe::detail::future_access::make_pending<T>();
}

template <class T>
const auto& state(const troupe::future<T>& f) {
  return troupe::detail::future_access::state(f);
}

// A producer like the thread pool: nothing to withdraw, it asks before it starts.
template <class T>
troupe::future<T> cancellable() {
  auto fut = pending<T>();
  state(fut)->set_canceller([] { return true; });
  return fut;
}

TEST(FutureState, RunningIsTrueOnlyBetweenTheStartAndTheCompletion) {
  auto fut = cancellable<int>();
  EXPECT_FALSE(fut.running());
  EXPECT_TRUE(state(fut)->set_running_or_notify_cancel());
  EXPECT_TRUE(fut.running());
  EXPECT_FALSE(fut.done());
  state(fut)->set_value(1);
  EXPECT_FALSE(fut.running());
  EXPECT_TRUE(fut.done());
}

TEST(FutureState, CancelSucceedsWhilePendingAndTheProducerThenSkipsTheWork) {
  auto fut = cancellable<int>();
  int callbacks = 0;
  fut.add_done_callback([&](const troupe::future<int>&) { ++callbacks; });
  EXPECT_TRUE(fut.cancel());
  EXPECT_TRUE(fut.cancelled());
  EXPECT_TRUE(fut.done());
  EXPECT_EQ(callbacks, 1);
  EXPECT_FALSE(state(fut)->set_running_or_notify_cancel());  // skip it
  EXPECT_FALSE(fut.running());
  EXPECT_FALSE(state(fut)->set_value(1));
  EXPECT_EQ(callbacks, 1);
  EXPECT_TRUE(troupe::is(fut.error(), errc::cancelled)) << troupe::describe(fut.error());
  EXPECT_THROW(fut.result(), troupe::task_error);
  EXPECT_TRUE(fut.cancel());  // still cancelled, as Python answers
}

TEST(FutureState, CancelFailsOnceTheWorkRuns) {
  auto fut = cancellable<int>();
  ASSERT_TRUE(state(fut)->set_running_or_notify_cancel());
  EXPECT_FALSE(fut.cancel());
  EXPECT_FALSE(fut.cancelled());
  EXPECT_FALSE(state(fut)->set_cancelled(troupe::make_error(errc::cancelled)));
  state(fut)->set_value(4);
  EXPECT_EQ(fut.result(), 4);
  EXPECT_FALSE(fut.cancel());  // done without being cancelled
}

TEST(FutureState, CancelFailsWhenTheProducerCannotWithdrawTheWork) {
  auto without_canceller = pending<int>();
  EXPECT_FALSE(without_canceller.cancel());
  EXPECT_FALSE(without_canceller.done());
  auto refusing = pending<int>();
  state(refusing)->set_canceller([] { return false; });
  EXPECT_FALSE(refusing.cancel());
  EXPECT_FALSE(refusing.cancelled());
  EXPECT_FALSE(refusing.done());
}

TEST(FutureState, AWithdrawnTaskIsCancelledWithTheProducersReason) {
  auto fut = pending<void>();
  EXPECT_TRUE(state(fut)->set_cancelled(troupe::make_error(errc::cancelled, "pool shut down")));
  EXPECT_TRUE(fut.cancelled());
  EXPECT_NE(troupe::describe(fut.error()).find("pool shut down"), std::string::npos)
      << troupe::describe(fut.error());
}

TEST(FutureState, CancelRacingTheStartHasExactlyOneWinner) {
  for (int round = 0; round < 200; ++round) {
    auto fut = cancellable<int>();
    std::atomic<bool> started{false};
    std::thread worker{[&] {
      if (state(fut)->set_running_or_notify_cancel()) {
        started = true;
        state(fut)->set_value(1);
      }
    }};
    bool cancelled = fut.cancel();
    worker.join();
    ASSERT_NE(cancelled, started.load()) << "round " << round;
    ASSERT_EQ(fut.cancelled(), cancelled);
    ASSERT_TRUE(fut.done());
  }
}

TEST(FutureState, ExceptionIsNullOnSuccess) {
  auto fut = pending<int>();
  state(fut)->set_value(1);
  EXPECT_EQ(fut.exception(), nullptr);
  EXPECT_EQ(fut.exception(1s), nullptr);
}

TEST(FutureState, ExceptionIsTheTasksOwnException) {
  auto fut = pending<int>();
  state(fut)->set_exception(std::make_exception_ptr(std::out_of_range{"index 9"}),
                            troupe::make_error(errc::task_failed, "index 9"));
  auto ex = fut.exception();
  ASSERT_NE(ex, nullptr);
  try {
    std::rethrow_exception(ex);
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "index 9");
  }
}

TEST(FutureState, ExceptionOfAnErrorIsWhatResultThrows) {
  auto fut = pending<int>();
  state(fut)->set_error(troupe::make_error(errc::worker_lost, "worker 3"));
  auto ex = fut.exception();
  ASSERT_NE(ex, nullptr);
  try {
    std::rethrow_exception(ex);
  } catch (const troupe::task_error& e) {
    EXPECT_TRUE(troupe::is(e.error(), errc::worker_lost)) << e.what();
  }
}

TEST(FutureState, ARemoteStandardExceptionIsRethrownAsItsOwnType) {
  // What a process pool future holds when the worker's task threw std::invalid_argument.
  auto fut = pending<int>();
  state(fut)->set_error(troupe::make_task_failure("std::invalid_argument", "bad width", "task f"));
  EXPECT_THROW(fut.result(), std::invalid_argument);
  auto ex = fut.exception();
  ASSERT_NE(ex, nullptr);
  try {
    std::rethrow_exception(ex);
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad width");
  }
}

TEST(FutureState, ARemoteExceptionOfAnotherTypeArrivesAsTaskErrorNamingIt) {
  auto fut = pending<int>();
  state(fut)->set_error(troupe::make_task_failure("my::parse_error", "line 3", "task f"));
  try {
    fut.result();
    FAIL() << "result() returned instead of throwing";
  } catch (const troupe::task_error& e) {
    EXPECT_NE(std::string{e.what()}.find("my::parse_error"), std::string::npos) << e.what();
    EXPECT_TRUE(troupe::is(e.error(), errc::task_failed)) << e.what();
  }
}

TEST(FutureState, ExceptionWithATimeoutThrowsTimeoutErrorWhilePending) {
  auto fut = pending<int>();
  EXPECT_THROW(static_cast<void>(fut.exception(1ms)), troupe::timeout_error);
  EXPECT_FALSE(fut.done());  // the work is not affected
}

TEST(FutureState, ExceptionWaitsForACompletionFromAnotherThread) {
  auto fut = pending<int>();
  std::thread completer{[st = state(fut)] { st->set_error(troupe::make_error(errc::cancelled)); }};
  auto ex = fut.exception();
  completer.join();
  EXPECT_NE(ex, nullptr);
}

TEST(FutureState, CopiesCompareEqualAndOtherFuturesDoNot) {
  auto a = pending<int>();
  auto copy = a;
  auto b = pending<int>();
  EXPECT_TRUE(a == copy);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(troupe::future<int>{} == troupe::future<int>{});
}

TEST(FutureState, ADefaultConstructedFutureRefusesTheNewMembersToo) {
  troupe::future<int> none;
  EXPECT_THROW(static_cast<void>(none.running()), std::logic_error);
  EXPECT_THROW(static_cast<void>(none.exception()), std::logic_error);
  EXPECT_THROW(static_cast<void>(none.cancelled()), std::logic_error);
}

}  // namespace
