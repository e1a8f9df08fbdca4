// troupe::detail::future_state<T>: what a future and its producer share. Producers (the thread
// pool, the process pool) reach it through detail::future_access (future.hpp); users never do.
//
// A state moves through these states once, and completion happens exactly once:
//
//   [pending] --set_running_or_notify_cancel--> [running] --set_value/exception/error--> [done]
//       |                                                                                   ^
//       +--cancel() / set_cancelled (cancelled() is true from then on)----------------------+
//       +--set_value/exception/error (a producer that never marks running)-------------------+
//
// A pending state is cancelled only if its producer allows it: either the producer starts the
// work through set_running_or_notify_cancel (which says "skip it" once cancelled), or it gives a
// canceller that withdraws the work. Once running, cancel() fails. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <caf/error.hpp>

#include "troupe/messages/error.hpp"

namespace troupe::detail {

/// Timeouts this long or longer mean "no limit": far beyond any real wait, and short enough
/// that deadlines computed from them cannot overflow a clock.
inline constexpr std::chrono::hours unbounded_wait{24 * 365 * 100};

template <class Rep, class Period>
bool is_unbounded(std::chrono::duration<Rep, Period> d) {
  return d >= unbounded_wait;
}

/// Runs a completed future's callbacks somewhere other than the completing thread.
using callback_executor = std::function<void(std::function<void()>)>;

template <class T>
using stored_t = std::conditional_t<std::is_void<T>::value, std::monostate, T>;

template <class T>
class future_state : public std::enable_shared_from_this<future_state<T>> {
public:
  using callback = std::function<void()>;

  bool done() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return done_;
  }

  /// Started and not yet done.
  bool running() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return running_ && !done_;
  }

  void wait() const {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait(guard, [this] { return done_; });
  }

  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    if (is_unbounded(timeout)) {
      wait();
      return true;
    }
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [this] { return done_; });
  }

  /// Callbacks registered before completion run through `run` instead of in the completing
  /// thread (a pool keeps its dispatcher free of user code this way).
  void set_callback_executor(callback_executor run) {
    std::lock_guard<std::mutex> guard{mtx_};
    executor_ = std::move(run);
  }

  /// The producer is about to start the work: true if it should (the state is running from now
  /// on and cancel() fails), false if the state is already done (cancelled, say): skip the work.
  /// Python's Future.set_running_or_notify_cancel.
  bool set_running_or_notify_cancel() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (done_)
      return false;
    running_ = true;
    return true;
  }

  // Completion: exactly one of these wins; later calls are ignored and return false.
  bool set_value(stored_t<T> value) {
    return complete([&] { value_.emplace(std::move(value)); });
  }
  bool set_exception(std::exception_ptr ex, caf::error err) {
    return complete([&] {
      exception_ = std::move(ex);
      error_ = std::move(err);
    });
  }
  bool set_error(caf::error err) {
    return complete([&] { error_ = std::move(err); });
  }

  /// Completes the state as cancelled with `reason` unless it is running or done; true if it
  /// did. For producers that withdrew the work themselves (a pool shutting down).
  bool set_cancelled(caf::error reason) {
    return complete_unless_running([&] {
      error_ = std::move(reason);
      cancelled_ = true;
    });
  }

  /// Lets cancel() succeed while the work is pending: `f` withdraws the work and returns true
  /// if it did. A producer that starts work only through set_running_or_notify_cancel has
  /// nothing to withdraw and passes a canceller returning true.
  void set_canceller(std::function<bool()> f) {
    std::lock_guard<std::mutex> guard{mtx_};
    canceller_ = std::move(f);
  }

  bool cancel() {
    std::function<bool()> canceller;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (done_)
        return cancelled_;
      if (running_)
        return false;
      canceller = canceller_;
    }
    // Outside the lock: the canceller takes the producer's locks, which may be held by a thread
    // that completes this state.
    if (!canceller || !canceller())
      return false;
    if (set_cancelled(make_error(errc::cancelled, "cancelled before it started")))
      return true;
    std::lock_guard<std::mutex> guard{mtx_};
    return cancelled_;
  }

  bool cancelled() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return cancelled_;
  }

  void on_done(callback f) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!done_) {
        callbacks_.push_back(std::move(f));
        return;
      }
    }
    invoke_callback(f);
  }

  // Preconditions for the accessors below: done().
  const caf::error& error() const {
    return error_;
  }
  std::exception_ptr exception() const {
    return exception_;
  }
  stored_t<T>& value() {
    return *value_;
  }

private:
  template <class Assign>
  bool complete(Assign assign) {
    return finish([&] {
      if (done_)
        return false;
      assign();
      return true;
    });
  }

  template <class Assign>
  bool complete_unless_running(Assign assign) {
    return finish([&] {
      if (done_ || running_)
        return false;
      assign();
      return true;
    });
  }

  // `assign` decides under the lock whether this call completes the state.
  template <class Assign>
  bool finish(Assign assign) {
    std::vector<callback> callbacks;
    callback_executor executor;
    // Callbacks hold the state weakly (future::add_done_callback): this keeps it alive until
    // they have run, here or on the executor's thread.
    auto keep_alive = this->weak_from_this().lock();
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!assign())
        return false;
      done_ = true;
      canceller_ = nullptr;  // it may hold the producer's state alive
      callbacks.swap(callbacks_);
      executor = executor_;
    }
    cv_.notify_all();
    if (executor && !callbacks.empty()) {
      executor([keep_alive = std::move(keep_alive), callbacks = std::move(callbacks)]() mutable {
        for (auto& f : callbacks)
          invoke_callback(f);
      });
      return true;
    }
    for (auto& f : callbacks)
      invoke_callback(f);
    return true;
  }

  // A throwing callback must not keep the others from running (Python logs and carries on).
  static void invoke_callback(callback& f) noexcept {
    try {
      f();
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "troupe: a future's done-callback raised: %s\n", ex.what());
    } catch (...) {
      std::fprintf(stderr, "troupe: a future's done-callback raised an unknown exception\n");
    }
  }

  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  bool done_ = false;
  bool running_ = false;
  std::optional<stored_t<T>> value_;
  std::exception_ptr exception_;
  caf::error error_;
  bool cancelled_ = false;
  std::function<bool()> canceller_;
  callback_executor executor_;
  std::vector<callback> callbacks_;
};

}  // namespace troupe::detail
