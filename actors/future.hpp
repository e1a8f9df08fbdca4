// troupe::future<T>: the result of work that runs elsewhere (a thread pool task, a process pool
// task), Python's concurrent.futures.Future.
//
//   result()              blocks until done; returns the value, or rethrows the task's exception
//                         (thread pool), or throws what the error says (remote failures, see
//                         "Errors" below)
//   result(timeout)       the same, but throws troupe::timeout_error if not done in time (the
//                         work goes on: call result again, or cancel)
//   exception()           blocks until done; the exception result() would throw, or null on
//                         success; exception(timeout) throws timeout_error like result(timeout)
//   error()               blocks until done; the failure as a caf::error, or none on success
//   wait_for(d)           blocks at most d; true once done
//   done()                never blocks: completed (a value, a failure, or cancelled)
//   running()             never blocks: the work has started and is not done yet
//   cancel()              true if the work had not started and now never will (the future then
//                         fails with errc::cancelled and cancelled() is true); false once it runs
//                         or is done (true again if it was cancelled before)
//   cancelled()           never blocks: true if cancel() or a shutdown with cancel_futures won
//   add_done_callback(f)  f(future) runs once when done (see "Callbacks")
//
// Free functions (as_completed.hpp, wait.hpp, included here):
//   as_completed(futures, timeout)         iterate in completion order
//   wait(futures, return_when, timeout)    -> {done, not_done}, as concurrent.futures.wait
//
// Which futures support what:
//   thread_pool   running() from the moment a worker starts the task; cancel() succeeds until
//                 then (the task is skipped when its turn comes).
//   process_pool  cancel() succeeds while the task waits in the head's queue; running() is true
//                 once the pool marks it started (see process_pool.hpp).
//
// Errors (one channel: result() throws, exception() returns what it would throw, error() gives
// the same failure as a caf::error):
//   - a thread pool task's own exception is rethrown as is;
//   - a remote task's exception of the standard family (std::invalid_argument, std::out_of_range,
//     std::runtime_error, ...) is rethrown as that type with the worker's what()
//     (troupe::throw_error, messages/error.hpp);
//   - any other failure (another exception type, a lost worker, cancellation, a closed pool, a
//     timeout of the task) is thrown as troupe::task_error carrying the caf::error.
//
// Callbacks: f(future) runs exactly once; an exception it throws is printed to stderr and does
// not keep the other callbacks from running. The thread that runs it:
//   - the caller of add_done_callback, at once, if the future is already done;
//   - thread pool: the worker thread that ran the task, right after it (a slow callback holds
//     that worker, as in Python); for a cancelled task the thread that called cancel() or
//     shutdown(cancel_futures);
//   - process pool: the pool's callback thread, never its dispatcher, so a callback may block,
//     even on another future (a slow callback delays only the other callbacks).
// A thread pool callback that blocks holds its worker: callbacks that wait on pending futures of
// the same pool (result(), wait(), as_completed) can take all N workers, and the tasks they wait
// for then never start (the waits end only by their timeouts, or never). Wait there on another
// pool's futures, or chain work with a callback instead of blocking. A process pool's callbacks
// have the same trap with that pool's futures (wait.hpp).
//
// Futures are cheap shared handles; copies refer to the same result and compare equal. A future
// completes exactly once. Every member is thread-safe. A default-constructed future has no work
// behind it: every member but valid() throws std::logic_error.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/error.hpp>

#include "troupe/actors/future_state.hpp"
#include "troupe/messages/error.hpp"

namespace troupe {

/// Thrown by future::result(timeout) and as_completed's iteration when the time is up (Python's
/// TimeoutError). The work itself is not affected.
class timeout_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

template <class T>
class future;

namespace detail {

/// The producer's side of a future, for code that completes futures (the thread pool, the
/// process pool). Not for users: a future's consumer reads it through future's own members.
struct future_access {
  /// The shared state behind `f` (null for a default-constructed future).
  template <class T>
  static const std::shared_ptr<future_state<T>>& state(const future<T>& f) noexcept {
    return f.state_;
  }

  /// A pending future with a fresh state; complete it through state().
  template <class T>
  static future<T> make_pending() {
    return future<T>{std::make_shared<future_state<T>>()};
  }
};

/// Throws a failure that carries no exception of its own: a remote task's standard exception
/// as that type, anything else as task_error (messages/error.hpp).
[[noreturn]] inline void throw_failure(const caf::error& err) {
  throw_error(err);
}

template <class Rep, class Period>
timeout_error not_ready_within(std::chrono::duration<Rep, Period> timeout) {
  auto seconds = std::chrono::duration_cast<std::chrono::duration<double>>(timeout).count();
  return timeout_error{"the result was not ready within " + std::to_string(seconds) + " s"};
}

}  // namespace detail

template <class T>
class future {
public:
  using value_type = T;

  /// A future with no work behind it (valid() is false); pools hand out the real ones.
  future() = default;

  bool valid() const noexcept {
    return state_ != nullptr;
  }

  bool done() const {
    return checked_state().done();
  }

  bool running() const {
    return checked_state().running();
  }

  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return checked_state().wait_for(timeout);
  }

  /// Blocks until done. Returns the value, or throws the failure (see "Errors" above). Returns a
  /// copy: a future may be shared.
  T result() const {
    checked_state().wait();
    return outcome();
  }

  /// As result(), waiting at most `timeout`; throws timeout_error if the work is not done.
  template <class Rep, class Period>
  T result(std::chrono::duration<Rep, Period> timeout) const {
    if (!checked_state().wait_for(timeout))
      throw detail::not_ready_within(timeout);
    return outcome();
  }

  /// Blocks until done. The exception result() would throw, or null on success.
  std::exception_ptr exception() const {
    checked_state().wait();
    return failure();
  }

  /// As exception(), waiting at most `timeout`; throws timeout_error if the work is not done.
  template <class Rep, class Period>
  std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
    if (!checked_state().wait_for(timeout))
      throw detail::not_ready_within(timeout);
    return failure();
  }

  /// Blocks until done. The failure, or none on success.
  caf::error error() const {
    checked_state().wait();
    return state_->error();
  }

  /// Withdraws work that has not started (see the header comment).
  bool cancel() const {
    return checked_state().cancel();
  }

  bool cancelled() const {
    return checked_state().cancelled();
  }

  /// Calls f(*this) once the future is done (see the header comment for the thread).
  template <class F>
  void add_done_callback(F f) const {
    // The callback holds the state weakly: a strong reference would make a future that never
    // completes own itself through its own callback, and it would never be freed. The state
    // keeps itself alive while it runs its callbacks (future_state::finish).
    checked_state().on_done([weak = std::weak_ptr{state_}, f = std::move(f)]() mutable {
      if (auto state = weak.lock()) {
        future done{std::move(state)};
        f(done);
      }
    });
  }

  /// True if both refer to the same work.
  friend bool operator==(const future& x, const future& y) noexcept {
    return x.state_ == y.state_;
  }

private:
  friend struct detail::future_access;

  using state_ptr = std::shared_ptr<detail::future_state<T>>;

  explicit future(state_ptr state) : state_(std::move(state)) {}

  // Preconditions for outcome() and failure(): done().
  T outcome() const {
    if (auto ex = state_->exception())
      std::rethrow_exception(ex);
    if (const auto& err = state_->error())
      detail::throw_failure(err);
    if constexpr (!std::is_void<T>::value)
      return state_->value();
  }

  std::exception_ptr failure() const {
    if (auto ex = state_->exception())
      return ex;
    if (const auto& err = state_->error()) {
      try {
        detail::throw_failure(err);
      } catch (...) {
        return std::current_exception();
      }
    }
    return nullptr;
  }

  detail::future_state<T>& checked_state() const {
    if (!state_)
      throw std::logic_error(
          "troupe::future: this future has no work behind it (it was "
          "default-constructed or moved from)");
    return *state_;
  }

  state_ptr state_;
};

}  // namespace troupe

// The free functions over futures, for users who include only this header.
#include "troupe/actors/as_completed.hpp"
#include "troupe/actors/wait.hpp"
