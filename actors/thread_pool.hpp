// troupe::thread_pool: the ThreadPoolExecutor of troupe.
//
//   troupe::thread_pool pool{sys, 4};
//   auto f = pool.submit(printer, "Hello", 1);       // future<R>
//   f.add_done_callback([](auto& done) { ... });
//   std::vector<int> squares = pool.map(square, inputs);  // input order
//   std::vector<int> sums = pool.map(add, xs, ys);        // add(xs[i], ys[i]); shortest wins
//   pool.shutdown();                                  // waits; every submitted task completes
//   pool.shutdown({.wait = false, .cancel_futures = true});
//
// The same verbs as process_pool (submit, map, shutdown with shutdown_options), so switching
// threads for processes is a one-word change.
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
// Futures: running() once a worker starts the task; cancel() succeeds until then, and the
// worker skips the cancelled task when its turn comes. Done-callbacks run in the worker thread
// that ran the task (future.hpp, "Callbacks").
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
// still run, unless a shutdown with cancel_futures (the first or a later one) cancels them
// (errc::cancelled, cancelled() true); shutdown with wait returns once every task that was
// accepted has completed its future. The workers and the supervisor terminate once the last
// task finished. A task (or a done-callback on a worker) cannot wait for its own pool: there
// shutdown() throws std::logic_error and changes nothing, as Python's "cannot join current
// thread"; shutdown({.wait = false}) closes the pool from a task. A pool destroyed on one of its
// own workers (its last owner was in a task's captures) closes without waiting and finishes by
// itself once drained.
//
// submit(), map() and shutdown() are thread-safe. The pool's actor system must outlive it.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>

#include "troupe/actors/detail/pool_task.hpp"
#include "troupe/actors/future.hpp"
#include "troupe/actors/shutdown_options.hpp"

namespace troupe {

namespace detail {

/// The queue and worker bookkeeping shared by the pool, its workers and their supervisor.
class pool_core;

}  // namespace detail

class thread_pool {
public:
  /// Python's default: min(32, cores + 4).
  static size_t default_max_workers();

  /// Throws std::invalid_argument if max_workers is 0 (Python's ValueError).
  explicit thread_pool(caf::actor_system& sys, size_t max_workers = default_max_workers());

  /// Same as shutdown(): waits for every accepted task, except on one of the pool's own workers
  /// (see the header comment), where it closes the pool without waiting.
  ~thread_pool();

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// Schedules f(args...) and returns its future. Arguments are copied (or moved) into the task
  /// and passed to f as rvalues.
  template <class F, class... Args>
  auto submit(F&& f, Args&&... args) {
    static_assert(std::is_invocable_v<std::decay_t<F>&, std::decay_t<Args>...>,
                  "thread_pool::submit(f, args...): f must be callable with the arguments given");
    using result_type = std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>...>;
    // A task runs once: its arguments are handed over as rvalues (as std::thread does), so
    // move-only arguments work.
    auto work = [f = std::forward<F>(f),
                 args = std::make_tuple(std::forward<Args>(args)...)]() mutable {
      return std::apply(f, std::move(args));
    };
    auto [fut, task] = detail::make_pool_task<result_type>(std::move(work));
    enqueue(std::move(task));
    return fut;
  }

  /// Runs f(x, y, ...) on the elements of the inputs taken side by side, as Python's
  /// map(f, xs, ys): f(xs[0], ys[0]), f(xs[1], ys[1]), ... until the shortest input ends. Returns
  /// the results in input order (nothing for a void f). If a task throws, map rethrows the first
  /// failure in input order after every task has finished.
  template <class F, std::ranges::input_range... Inputs>
  requires(sizeof...(Inputs) > 0) auto map(F f, const Inputs&... inputs) {
    static_assert(std::is_invocable_v<F&, std::ranges::range_value_t<Inputs>...>,
                  "thread_pool::map(f, inputs...): f must be callable with one element of each "
                  "input, in order");
    using future_type = decltype(submit(f, *std::ranges::begin(inputs)...));
    using result_type = typename future_type::value_type;
    std::vector<future_type> futures;
    auto cursors =
        std::make_tuple(std::pair{std::ranges::begin(inputs), std::ranges::end(inputs)}...);
    auto any_ended = [&cursors] {
      return std::apply([](auto&... c) { return ((c.first == c.second) || ...); }, cursors);
    };
    while (!any_ended())
      std::apply(
          [&](auto&... c) {
            futures.push_back(submit(f, *c.first...));
            (++c.first, ...);
          },
          cursors);
    for (auto& fut : futures)
      fut.wait_for(detail::unbounded_wait);
    if constexpr (std::is_void_v<result_type>) {
      for (auto& fut : futures)
        fut.result();
    } else {
      std::vector<result_type> results;
      results.reserve(futures.size());
      for (auto& fut : futures)
        results.push_back(fut.result());
      return results;
    }
  }

  /// Stops accepting work (see the header comment and shutdown_options). Throws
  /// std::logic_error, changing nothing, if options.wait is set and the caller is one of this
  /// pool's tasks or a done-callback running on its worker.
  void shutdown(shutdown_options options = {});

  size_t max_workers() const noexcept {
    return max_workers_;
  }

private:
  void enqueue(detail::pool_task_ptr task);

  size_t max_workers_;
  std::shared_ptr<detail::pool_core> core_;
};

}  // namespace troupe
