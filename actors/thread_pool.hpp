// troupe::thread_pool: the ThreadPoolExecutor of troupe.
//
//   troupe::thread_pool pool{sys, 4};
//   auto f = pool.submit(printer, "Hello", 1);   // future<R>
//   f.add_done_callback([](auto& done) { ... });
//   std::vector<int> squares = pool.map(square, inputs);  // input order
//   pool.shutdown();                              // waits; every submitted task completes
//
// Inside, a dispatcher actor owns the queue and hands one task at a time to idle worker actors;
// each worker runs on its own thread (a detached actor), so tasks may block, as in Python. A
// task that throws fails its future with that exception (result() rethrows it; error() carries
// the message); the worker and the process carry on. A worker actor that terminates is replaced
// by the dispatcher, and a task it had not started goes back to the queue.
//
// submit() and map() are thread-safe. After shutdown(), submit() throws task_error(pool_closed).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "troupe/actors/future.hpp"

namespace troupe {

namespace detail {

/// A type-erased unit of work travelling between the pool's actors (locally only).
class pool_task {
public:
  virtual ~pool_task() = default;
  /// Runs the work and completes its future; never throws.
  virtual void run() noexcept = 0;
  /// Completes the future with `err` unless it already completed.
  virtual void fail(caf::error err) noexcept = 0;
  bool started() const noexcept {
    return started_.load();
  }

protected:
  std::atomic<bool> started_{false};
};

using pool_task_ptr = std::shared_ptr<pool_task>;

template <class R, class Work>
class pool_task_impl final : public pool_task {
public:
  pool_task_impl(std::shared_ptr<future_state<R>> state, Work work)
    : state_(std::move(state)), work_(std::move(work)) {
  }

  void run() noexcept override {
    started_ = true;
    try {
      if constexpr (std::is_void<R>::value) {
        work_();
        state_->set_value({});
      } else {
        state_->set_value(work_());
      }
    } catch (const std::exception& ex) {
      state_->set_exception(std::current_exception(), make_error(errc::task_failed, ex.what()));
    } catch (...) {
      state_->set_exception(std::current_exception(),
                            make_error(errc::task_failed, "unknown exception"));
    }
  }

  void fail(caf::error err) noexcept override {
    state_->set_error(std::move(err));
  }

private:
  std::shared_ptr<future_state<R>> state_;
  Work work_;
};

}  // namespace detail

class thread_pool {
public:
  /// Python's default: min(32, cores + 4).
  static size_t default_max_workers();

  explicit thread_pool(caf::actor_system& sys, size_t max_workers = default_max_workers());

  /// Same as shutdown(true).
  ~thread_pool();

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// Schedules f(args...) and returns its future. Arguments are copied (or moved) into the task.
  template <class F, class... Args>
  auto submit(F&& f, Args&&... args) {
    using result_type = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
    auto fut = make_pending_future<result_type>();
    auto work = [f = std::forward<F>(f),
                 args = std::make_tuple(std::forward<Args>(args)...)]() mutable {
      return std::apply(f, args);
    };
    enqueue(std::make_shared<detail::pool_task_impl<result_type, decltype(work)>>(fut.state(),
                                                                                  std::move(work)));
    return fut;
  }

  /// Runs f on every input and returns the results in input order. If a task throws, map
  /// rethrows the first failure in input order after every task has finished.
  template <class F, class T>
  auto map(F f, const std::vector<T>& inputs) {
    using result_type = std::invoke_result_t<F, const T&>;
    std::vector<future<result_type>> futures;
    futures.reserve(inputs.size());
    for (const auto& x : inputs)
      futures.push_back(submit(f, x));
    for (auto& fut : futures)
      fut.state()->wait();
    std::vector<result_type> results;
    results.reserve(inputs.size());
    for (auto& fut : futures)
      results.push_back(fut.result());
    return results;
  }

  /// Stops accepting work. wait: block until every submitted task has finished.
  /// cancel_futures: tasks not yet started fail with errc::cancelled instead of running.
  /// Without wait, the queued tasks still run to completion in the background.
  void shutdown(bool wait = true, bool cancel_futures = false);

  size_t max_workers() const noexcept {
    return max_workers_;
  }

private:
  void enqueue(detail::pool_task_ptr task);

  caf::actor_system& sys_;
  size_t max_workers_;
  caf::actor dispatcher_;
  std::shared_mutex closing_;  // submit (shared) vs shutdown (exclusive)
  bool closed_ = false;
  future<void> drained_;
};

}  // namespace troupe
