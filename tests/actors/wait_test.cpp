// troupe::wait over futures completed by hand (detail::future_access): which condition ends the
// wait and how the futures are split into done and not_done. The completing threads are the
// test's; the only bounded waits that end by their timeout are those whose futures never
// complete.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "troupe/actors/future.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;
using troupe::return_when;

constexpr auto timeout = 30s;

template <class T>
troupe::future<T> pending() {
  return troupe::detail::future_access::make_pending<T>();
}

template <class T>
const auto& state(const troupe::future<T>& f) {
  return troupe::detail::future_access::state(f);
}

std::vector<troupe::future<int>> pending_futures(size_t n) {
  std::vector<troupe::future<int>> futures;
  for (size_t i = 0; i < n; ++i)
    futures.push_back(pending<int>());
  return futures;
}

TEST(Wait, AllCompletedReturnsOnceEveryFutureIsDone) {
  auto futures = pending_futures(3);
  std::thread completer{[&] {
    for (int i : {2, 0, 1})
      state(futures[i])->set_value(i);
  }};
  auto [done, not_done] = troupe::wait(futures);
  completer.join();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_TRUE(not_done.empty());
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(done[i] == futures[i]) << "done keeps the input order";
}

TEST(Wait, FirstCompletedReturnsAfterOneWhileTheOthersStayPending) {
  auto futures = pending_futures(3);
  std::thread completer{[&] { state(futures[1])->set_value(1); }};
  auto [done, not_done] = troupe::wait(futures, return_when::first_completed, timeout);
  completer.join();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0] == futures[1]);
  ASSERT_EQ(not_done.size(), 2u);
  EXPECT_TRUE(not_done[0] == futures[0]);
  EXPECT_TRUE(not_done[1] == futures[2]);
}

TEST(Wait, FirstExceptionWaitsPastSuccessesUntilAFailure) {
  auto futures = pending_futures(3);
  state(futures[0])->set_value(0);  // a success alone must not end the wait
  std::thread completer{[&] {
    state(futures[2])
        ->set_exception(std::make_exception_ptr(std::runtime_error{"bad"}),
                        troupe::make_error(errc::task_failed, "bad"));
  }};
  auto [done, not_done] = troupe::wait(futures, return_when::first_exception, timeout);
  completer.join();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_TRUE(done[0] == futures[0]);
  EXPECT_TRUE(done[1] == futures[2]);
  ASSERT_EQ(not_done.size(), 1u);
  EXPECT_TRUE(not_done[0] == futures[1]);
}

TEST(Wait, FirstExceptionCountsAnErrorWithoutExceptionAsAFailure) {
  auto futures = pending_futures(2);
  state(futures[0])->set_error(troupe::make_error(errc::worker_lost));
  auto [done, not_done] = troupe::wait(futures, return_when::first_exception, timeout);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0] == futures[0]);
  EXPECT_EQ(not_done.size(), 1u);
}

TEST(Wait, FirstExceptionTreatsCancellationAsDoneNotAsAFailure) {
  auto futures = pending_futures(2);
  state(futures[0])->set_cancelled(troupe::make_error(errc::cancelled));
  std::thread completer{[&] { state(futures[1])->set_value(1); }};
  // Without a failure it waits for all, as ALL_COMPLETED.
  auto [done, not_done] = troupe::wait(futures, return_when::first_exception, timeout);
  completer.join();
  EXPECT_EQ(done.size(), 2u);
  EXPECT_TRUE(not_done.empty());
}

TEST(Wait, ATimeoutReturnsWhatIsDoneWithoutThrowing) {
  auto futures = pending_futures(2);
  state(futures[1])->set_value(1);
  auto [done, not_done] = troupe::wait(futures, return_when::all_completed, 1ms);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0] == futures[1]);
  ASSERT_EQ(not_done.size(), 1u);
  EXPECT_TRUE(not_done[0] == futures[0]);
}

TEST(Wait, FuturesDoneBeforehandEndTheWaitAtOnce) {
  auto futures = pending_futures(2);
  state(futures[0])->set_value(0);
  state(futures[1])->set_value(1);
  EXPECT_EQ(troupe::wait(futures, return_when::all_completed, timeout).done.size(), 2u);
}

TEST(Wait, NoFuturesReturnAtOnce) {
  std::vector<troupe::future<int>> none;
  for (auto when :
       {return_when::first_completed, return_when::first_exception, return_when::all_completed}) {
    auto [done, not_done] = troupe::wait(none, when);
    EXPECT_TRUE(done.empty());
    EXPECT_TRUE(not_done.empty());
  }
}

}  // namespace
