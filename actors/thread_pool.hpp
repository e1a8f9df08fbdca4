// troupe::thread_pool: the ThreadPoolExecutor of troupe.
//
//   troupe::thread_pool pool{sys, 4};
//   auto f = pool.submit(printer, "Hello", 1);   // future<R>
//   f.add_done_callback([](auto& done) { ... });
//   std::vector<int> squares = pool.map(square, inputs);  // input order
//   pool.shutdown();                              // waits; every submitted task completes
//
// Workers: max_workers detached actors, each on its own thread, so tasks may block, as in
// Python; at most max_workers tasks run at once. A supervisor actor spawns and monitors them.
//
// Queue: as in Python, submitted tasks wait in one queue shared by all workers, and a worker
// that finishes a task takes the next one itself. A task never waits behind a blocked task
// while a worker is idle: a worker parks (waits on its mailbox) only when the queue is empty,
// and as long as the queue holds tasks and some worker is parked, one worker is awake and about
// to take a task; a worker inside a task does not count, however long it blocks. A parked worker
// is woken with a message; nothing else is sent per task, and the task's future is completed by
// the worker that ran it. Before parking, one worker at a time keeps looking for ~20 us, so a
// burst of tiny tasks costs no wake-ups. Tasks start in submission order (several run at once,
// so they may finish in any order).
//
// Failures: a task that throws fails its future with that exception (result() rethrows it;
// error() is errc::task_failed with the message); the worker and the process carry on. A worker
// actor that terminates (an exit message, say) finishes the task it is running first: CAF only
// handles the exit between messages, which a busy worker looks at every few hundred tasks. It
// holds no other task, since the queued ones stay in the shared queue, so its termination loses
// nothing; the supervisor spawns a replacement and the pool keeps its capacity. Should a task
// ever be destroyed without having run, its future fails with errc::worker_lost rather than
// stay pending.
//
// Shutdown: after shutdown(), submit() throws task_error(pool_closed). Tasks queued before it
// still run, unless a shutdown with cancel_futures (the first or a later one) fails them with
// errc::cancelled; shutdown(wait = true) returns once every task that was accepted has
// completed its future. The workers and the supervisor terminate once the last task finished.
//
// submit(), map() and shutdown() are thread-safe. The pool's actor system must outlive it.
#pragma once

#include <cstddef>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "troupe/actors/future.hpp"

namespace troupe {

namespace detail {

/// A type-erased unit of work owned by exactly one place at a time: the pool's queue, then the
/// worker that runs it. Never leaves the process.
class pool_task {
public:
  virtual ~pool_task() = default;
  /// Runs the work and completes its future; never throws.
  virtual void run() noexcept = 0;
  /// Completes the future with `err` instead of running the work.
  virtual void fail(caf::error err) noexcept = 0;
};

using pool_task_ptr = std::unique_ptr<pool_task>;

template <class R, class Work>
class pool_task_impl final : public pool_task {
public:
  pool_task_impl(std::shared_ptr<future_state<R>> state, Work work)
      : state_(std::move(state)), work_(std::move(work)) {}

  // Nothing is lost silently: a task dropped unrun still completes its future.
  ~pool_task_impl() override {
    if (!completed_)
      state_->set_error(make_error(errc::worker_lost, "thread pool task dropped before it ran"));
  }

  void run() noexcept override {
    completed_ = true;
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
    completed_ = true;
    state_->set_error(std::move(err));
  }

private:
  std::shared_ptr<future_state<R>> state_;
  Work work_;
  bool completed_ = false;  // only its current owner touches the task
};

/// The queue and worker bookkeeping shared by the pool, its workers and their supervisor.
class pool_core;

/// The worker actor running the calling task, or an invalid handle outside a pool task. Lets
/// tests (and diagnostics) address the worker behind a task, e.g. to send it an exit message.
caf::actor current_pool_worker();

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
    auto fut = detail::future_access::make_pending<result_type>();
    auto work = [f = std::forward<F>(f),
                 args = std::make_tuple(std::forward<Args>(args)...)]() mutable {
      return std::apply(f, args);
    };
    enqueue(std::make_unique<detail::pool_task_impl<result_type, decltype(work)>>(
        detail::future_access::state(fut), std::move(work)));
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
      fut.wait_for(detail::unbounded_wait);
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

  size_t max_workers_;
  std::shared_ptr<detail::pool_core> core_;
};

}  // namespace troupe
