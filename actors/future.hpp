// troupe::future<T>: the result of work that runs elsewhere (a thread pool task, a process pool
// task), in the spirit of concurrent.futures.Future.
//
//   result()              blocks until done; returns the value or throws the task's exception
//                         (thread pool) or troupe::task_error (remote failures)
//   result(timeout)       the same, but throws troupe::timeout_error if not done in time (the
//                         work goes on: call result again, or cancel)
//   wait_for(d)           blocks at most d; true once done
//   done()                never blocks
//   cancel()              true if the work had not started and now never will (the future then
//                         fails with errc::cancelled); false once it runs or is done
//   cancelled()           true if cancel() succeeded
//   error()               the failure as a caf::error (none while running or on success)
//   add_done_callback(f)  f(future) runs once when done: at once in the caller's thread if the
//                         future is already done, else in the thread that completes it (for
//                         process pool futures: the pool's callback thread, never its
//                         dispatcher, so a callback may block, even on another future)
//
// Futures are cheap shared handles; copies refer to the same result. A future completes exactly
// once. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <caf/error.hpp>

#include "troupe/messages/error.hpp"

namespace troupe {

/// Thrown by future::result() when the work failed with an error rather than an exception
/// (remote task failures, lost workers, cancellation).
class task_error : public std::runtime_error {
public:
  explicit task_error(caf::error err) : std::runtime_error(describe(err)), error_(std::move(err)) {}
  const caf::error& error() const noexcept {
    return error_;
  }

private:
  caf::error error_;
};

/// Thrown by future::result(timeout) and as_completed's iteration when the time is up (Python's
/// TimeoutError). The work itself is not affected.
class timeout_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

template <class T>
class future;

namespace detail {

template <class T>
class future_state;

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

/// Timeouts this long or longer mean "no limit": far beyond any real wait, and short enough
/// that deadlines computed from them cannot overflow a clock.
inline constexpr std::chrono::hours unbounded_wait{24 * 365 * 100};

template <class Rep, class Period>
bool is_unbounded(std::chrono::duration<Rep, Period> d) {
  return d >= unbounded_wait;
}

/// Runs a completed future's callbacks somewhere other than the completing thread.
using callback_executor = std::function<void(std::function<void()>)>;

}  // namespace detail

namespace detail {

template <class T>
using stored_t = std::conditional_t<std::is_void<T>::value, std::monostate, T>;

template <class T>
class future_state {
public:
  using callback = std::function<void()>;

  bool done() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return done_;
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

  /// The producer's way to withdraw work that has not started: returns true if it did.
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
      canceller = canceller_;
    }
    if (!canceller || !canceller())
      return false;
    // Withdrawn: completing can only race with nothing else now, but stay exactly-once.
    if (complete([&] {
          error_ = make_error(errc::cancelled, "cancelled before it started");
          cancelled_ = true;
        }))
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
    std::vector<callback> callbacks;
    callback_executor executor;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (done_)
        return false;
      assign();
      done_ = true;
      canceller_ = nullptr;  // it may hold the producer's state alive
      callbacks.swap(callbacks_);
      executor = executor_;
    }
    cv_.notify_all();
    if (executor && !callbacks.empty()) {
      executor([callbacks = std::move(callbacks)]() mutable {
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
  std::optional<stored_t<T>> value_;
  std::exception_ptr exception_;
  caf::error error_;
  bool cancelled_ = false;
  std::function<bool()> canceller_;
  callback_executor executor_;
  std::vector<callback> callbacks_;
};

}  // namespace detail

template <class T>
class future {
public:
  using value_type = T;
  using state_ptr = std::shared_ptr<detail::future_state<T>>;

  future() = default;
  explicit future(state_ptr state) : state_(std::move(state)) {}

  bool valid() const noexcept {
    return state_ != nullptr;
  }

  bool done() const {
    return checked_state().done();
  }

  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    return checked_state().wait_for(timeout);
  }

  /// Blocks until done. Returns the value, or rethrows the task's exception, or throws
  /// task_error for failures without an exception. Returns a copy: a future may be shared.
  T result() const {
    checked_state().wait();
    return outcome();
  }

  /// As result(), waiting at most `timeout`; throws timeout_error if the work is not done.
  template <class Rep, class Period>
  T result(std::chrono::duration<Rep, Period> timeout) const {
    if (!checked_state().wait_for(timeout))
      throw timeout_error{
          "the result was not ready within "
          + std::to_string(
              std::chrono::duration_cast<std::chrono::duration<double>>(timeout).count())
          + " s"};
    return outcome();
  }

  /// Withdraws work that has not started (see the header comment).
  bool cancel() const {
    return checked_state().cancel();
  }

  bool cancelled() const {
    return checked_state().cancelled();
  }

private:
  T outcome() const {
    if (auto ex = state_->exception())
      std::rethrow_exception(ex);
    if (const auto& err = state_->error())
      throw task_error{err};
    if constexpr (!std::is_void<T>::value)
      return state_->value();
  }

public:
  /// The failure, or none. Blocks until done.
  caf::error error() const {
    checked_state().wait();
    return state_->error();
  }

  /// Calls f(*this) once the future is done (see the header comment for the thread).
  template <class F>
  void add_done_callback(F f) const {
    auto self = *this;
    checked_state().on_done([self, f = std::move(f)]() mutable { f(self); });
  }

  /// The shared state, for producers of results (pools).
  const state_ptr& state() const noexcept {
    return state_;
  }

private:
  friend struct detail::future_access;

  detail::future_state<T>& checked_state() const {
    if (!state_)
      throw std::logic_error(
          "troupe::future: this future has no work behind it (it was "
          "default-constructed or moved from)");
    return *state_;
  }

  state_ptr state_;
};

/// Makes a pending future and its state, for code that produces results.
template <class T>
future<T> make_pending_future() {
  return future<T>{std::make_shared<detail::future_state<T>>()};
}

/// Iterates over futures in the order they complete, like concurrent.futures.as_completed.
/// Each step blocks until the next future is done. Iterating yields references into the vector
/// passed in (a named vector must outlive the iteration; a temporary one is kept inside).
///
///   for (auto& f : troupe::as_completed(futures)) use(f.result());
template <class T>
class as_completed {
public:
  explicit as_completed(const std::vector<future<T>>& futures)
      : as_completed(futures, detail::unbounded_wait) {}
  explicit as_completed(std::vector<future<T>>&& futures)
      : as_completed(std::move(futures), detail::unbounded_wait) {}

  /// Each step throws timeout_error once `timeout` has passed since this call (Python's rule).
  template <class Rep, class Period>
  as_completed(const std::vector<future<T>>& futures, std::chrono::duration<Rep, Period> timeout)
      : futures_(&futures), queue_(std::make_shared<completion_queue>()) {
    watch(timeout);
  }
  template <class Rep, class Period>
  as_completed(std::vector<future<T>>&& futures, std::chrono::duration<Rep, Period> timeout)
      : owned_(std::move(futures)),
        futures_(&owned_),
        queue_(std::make_shared<completion_queue>()) {
    watch(timeout);
  }

  as_completed(const as_completed&) = delete;
  as_completed& operator=(const as_completed&) = delete;

  class iterator {
  public:
    iterator(as_completed* owner, size_t taken) : owner_(owner), taken_(taken) {
      fetch();
    }
    const future<T>& operator*() const {
      return (*owner_->futures_)[current_];
    }
    const future<T>* operator->() const {
      return &**this;
    }
    iterator& operator++() {
      ++taken_;
      fetch();
      return *this;
    }
    bool operator!=(const iterator& other) const {
      return taken_ != other.taken_;
    }

  private:
    void fetch() {
      if (owner_ && taken_ < owner_->futures_->size())
        current_ = owner_->queue_->pop();
    }
    as_completed* owner_;
    size_t taken_;
    size_t current_ = 0;
  };

  iterator begin() {
    return iterator{this, 0};
  }
  iterator end() {
    return iterator{nullptr, futures_->size()};
  }

private:
  struct completion_queue {
    std::mutex mtx;
    std::condition_variable cv;
    std::vector<size_t> ready;
    size_t next = 0;
    void push(size_t i) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        ready.push_back(i);
      }
      cv.notify_one();
    }
    std::optional<std::chrono::steady_clock::time_point>
        deadline;  // none: wait as long as it takes
    size_t pop() {
      std::unique_lock<std::mutex> guard{mtx};
      auto ready_now = [this] { return next < ready.size(); };
      if (!deadline)
        cv.wait(guard, ready_now);
      else if (!cv.wait_until(guard, *deadline, ready_now))
        throw timeout_error{"as_completed: not every future was done in time"};
      return ready[next++];
    }
  };

  template <class Rep, class Period>
  void watch(std::chrono::duration<Rep, Period> timeout) {
    if (!detail::is_unbounded(timeout))
      queue_->deadline = std::chrono::steady_clock::now()
                         + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
    for (size_t i = 0; i < futures_->size(); ++i)
      (*futures_)[i].add_done_callback([q = queue_, i](const future<T>&) { q->push(i); });
  }

  std::vector<future<T>> owned_;  // a temporary vector passed in
  const std::vector<future<T>>* futures_;
  std::shared_ptr<completion_queue> queue_;
};

}  // namespace troupe
