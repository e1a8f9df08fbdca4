// troupe::wait(futures, return_when, timeout): blocks until some or all futures are done, as
// concurrent.futures.wait. Part of the future API (future.hpp includes it).
//
//   auto [done, not_done] = troupe::wait(futures, troupe::return_when::first_completed, 5s);
//
// Returns when the condition holds or the timeout passed, whichever comes first; never throws
// timeout_error (look at not_done). Both vectors keep the input order; a future passed twice
// appears twice. A cancelled future counts as done, not as an exception.
//
// Waiting adds a done-callback to every future, so the wait ends as soon as the thread that runs
// the futures' callbacks (future.hpp, "Callbacks") has seen the completion. So do not wait in a
// process pool's done-callback for that pool's pending futures: their callbacks would queue up
// behind the waiting one (the wait would end only by its timeout). as_completed is the same.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "troupe/actors/future.hpp"

namespace troupe {

/// When wait() returns (Python's FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class return_when {
  /// Any future is done.
  first_completed,
  /// Any future failed (with an exception or an error, not by cancellation); else as
  /// all_completed.
  first_exception,
  /// Every future is done.
  all_completed,
};

/// What wait() saw when it returned.
template <class T>
struct wait_result {
  std::vector<future<T>> done;
  std::vector<future<T>> not_done;
};

namespace detail {

/// Completions counted by the futures' callbacks; outlives wait() if a future never completes.
struct wait_tally {
  std::mutex mtx;
  std::condition_variable cv;
  size_t completed = 0;
  bool failed = false;
};

}  // namespace detail

template <class T, class Rep, class Period>
wait_result<T> wait(const std::vector<future<T>>& futures, return_when when,
                    std::chrono::duration<Rep, Period> timeout) {
  auto tally = std::make_shared<detail::wait_tally>();
  for (const auto& f : futures)
    f.add_done_callback([tally](const future<T>& done) {
      bool failed = !done.cancelled() && done.error();
      {
        std::lock_guard<std::mutex> guard{tally->mtx};
        ++tally->completed;
        tally->failed = tally->failed || failed;
      }
      tally->cv.notify_all();
    });
  auto satisfied = [&] {
    if (tally->completed == futures.size())
      return true;
    switch (when) {
      case return_when::first_completed:
        return tally->completed > 0;
      case return_when::first_exception:
        return tally->failed;
      case return_when::all_completed:
        break;
    }
    return false;
  };
  {
    std::unique_lock<std::mutex> guard{tally->mtx};
    if (detail::is_unbounded(timeout))
      tally->cv.wait(guard, satisfied);
    else
      tally->cv.wait_for(guard, timeout, satisfied);
  }
  wait_result<T> result;
  for (const auto& f : futures)
    (f.done() ? result.done : result.not_done).push_back(f);
  return result;
}

/// As wait(futures, when, timeout) without a time limit.
template <class T>
wait_result<T> wait(const std::vector<future<T>>& futures,
                    return_when when = return_when::all_completed) {
  return wait(futures, when, detail::unbounded_wait);
}

}  // namespace troupe
