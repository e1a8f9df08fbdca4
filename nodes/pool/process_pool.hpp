// troupe::process_pool: the multiprocessing.Pool of troupe. Tasks (config::tasks()) run on
// worker processes: children this pool starts over socketpairs, and nodes that join the head
// over TCP.
//
//   troupe::process_pool pool{node, {.workers = 2}};
//   std::vector<int64_t> squares = pool.map(square, inputs);        // ordered, chunked
//   auto f = pool.apply_async(format, request, [](const std::string& s) { puts(s.c_str()); });
//   for (auto& chunk : pool.imap_unordered(square, inputs)) ...      // as chunks complete
//   pool.close(); pool.join();                                       // or let RAII do it
//
//   troupe::process_pool bounded{node, {.workers = 4, .task_timeout = 10s}};
//   auto g = bounded.apply_async(render, tile, troupe::task_options{.timeout = 1s});
//   g.result(5s);        // throws troupe::timeout_error if not done by then; the task goes on
//   g.cancel();          // true if it had not started: it never will
//   bounded.join(30s);   // false if work is still pending after 30 s
//   bounded.terminate(); // now: workers killed, pending futures fail with errc::terminated
//
// Dispatch is least-loaded: each worker holds a small window of batches (sized from measured
// task and round-trip times), so long and short tasks mixed keep every worker busy; queued tiny
// tasks are merged into one batch per round trip.
//
// A batch that waits on a worker behind a long-running one is handed back and taken by an
// idle worker, so one stuck task holds up nothing but itself.
//
// Failures: a task that throws fails its item with the exception's message (task_error); the
// worker carries on. A worker that dies (killed, crashed, declared down by heartbeat), returns
// malformed results, or stops answering (a batch past its deadline, see pool_options) has its
// batches re-dispatched and is replaced; results from a worker declared dead are discarded, so
// map still returns every result exactly once, in order. A task in flight on max_kills deaths
// (run alone after the first) fails with errc::worker_lost naming the task. With a task
// timeout, an item that runs longer fails with errc::task_timeout naming the task and item,
// and its worker is killed and replaced; everything else continues.
//
// Nothing waits forever: worker processes that keep failing at start-up fail the pool's work
// with errc::worker_start_failed (their exit status and last stderr line); work that has had no
// worker for worker_wait fails with errc::worker_lost; while waiting for workers to join, the
// pool says so on the log every few seconds, with where they should connect.
//
// Thread-safety: every member function may be called from any non-actor thread. Callbacks and
// done-callbacks of futures run on the pool's own callback thread, one at a time in completion
// order: a slow one delays the callbacks after it, never dispatch; one may block on another
// future or call the pool.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "troupe/actors/future.hpp"
#include "troupe/messages/task_registry.hpp"
#include "troupe/nodes/node.hpp"
#include "troupe/nodes/pool/detail/results.hpp"

namespace troupe {

struct pool_options {
  /// Worker processes to start. Default: one per core.
  size_t workers = default_workers();
  /// Also dispatch to nodes that join over TCP.
  bool use_joined_workers = true;
  /// Replace worker processes that die.
  bool respawn = true;
  /// A task in flight on this many worker deaths fails instead of being retried.
  unsigned max_kills = 3;
  /// Longest time one item may run (0, or a century and more: no limit); per call:
  /// task_options::timeout.
  std::chrono::milliseconds task_timeout{0};
  /// A batch running this long is probed: its worker's runner must say, within the same
  /// time, that it still has it (it answers while the task runs), or the worker is dropped and
  /// the batch runs elsewhere. This catches a worker that heartbeats but stopped working.
  std::chrono::milliseconds probe_interval{std::chrono::seconds{5}};
  /// Start-up failures of worker processes in a row after which the pool gives up.
  unsigned max_start_failures = 3;
  /// Work that has had no worker (none ready, none starting) this long fails (0: wait forever).
  std::chrono::milliseconds worker_wait{std::chrono::seconds{60}};

  static size_t default_workers();
};

/// Per-call settings that override the pool's.
struct task_options {
  /// Longest time one item may run; 0 means no limit; unset: pool_options::task_timeout.
  std::optional<std::chrono::milliseconds> timeout;
};

struct pool_stats {
  size_t workers = 0;            // ready now
  uint64_t tasks_completed = 0;  // items with a result (or a task exception)
  uint64_t redispatched = 0;     // items sent again after their worker died
  uint64_t respawned = 0;        // worker processes started to replace dead ones
  uint64_t worker_deaths = 0;    // workers lost while the pool ran
  uint64_t late_results_discarded = 0;
  uint64_t timeouts = 0;  // items that ran past their timeout
  uint64_t revoked = 0;   // queued batches handed back to run on an idle worker
  uint64_t fenced = 0;    // workers dropped for silence or malformed results
  std::map<std::string, uint64_t> items_per_worker;  // by worker node name
};

namespace detail {
class callback_thread;
}  // namespace detail

class process_pool {
public:
  explicit process_pool(node& n, pool_options opts = {});

  /// close() then join(): every submitted task finishes first (with a task timeout, each task
  /// is bounded by it; work without any worker fails after pool_options::worker_wait).
  ~process_pool();

  process_pool(const process_pool&) = delete;
  process_pool& operator=(const process_pool&) = delete;

  /// Blocks until at least n workers are ready or the timeout passes; true if they are.
  /// Throws task_error (errc::worker_start_failed) if worker processes cannot be started.
  bool wait_for_workers(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds{30});

  // -- map ----------------------------------------------------------------------------------------

  /// Applies a registered task to every input; returns the results in input order. Chunk size
  /// 0 picks one as Python does (inputs / (4 * workers)). Throws task_error for the first
  /// failed item (after every item finished).
  template <class F>
  auto map(F fn, const std::vector<task_argument_t<F>>& inputs, size_t chunksize = 0,
           task_options call = {}) {
    return map<task_result_t<F>>(task_name(fn), inputs, chunksize, call);
  }

  template <class R, class A>
  std::vector<R> map(const std::string& task, const std::vector<A>& inputs, size_t chunksize = 0,
                     task_options call = {}) {
    check_types<A, R>(task);
    auto chunks = submit_chunks<A, R>(task, inputs, chunksize, call);
    for (auto& chunk : chunks)
      chunk.result.state()->wait();
    std::vector<R> out;
    out.reserve(inputs.size());
    for (auto& chunk : chunks)
      detail::decode_chunk<R>(task, chunk, out);
    return out;
  }

  // -- imap_unordered -----------------------------------------------------------------------------

  /// Submits like map and returns one future per chunk; iterate them with as_completed to
  /// handle results as they arrive. Chunk size 0 means 1.
  template <class F>
  auto imap_unordered(F fn, const std::vector<task_argument_t<F>>& inputs, size_t chunksize = 1,
                      task_options call = {}) {
    return imap_unordered<task_result_t<F>>(task_name(fn), inputs, chunksize, call);
  }

  template <class R, class A>
  std::vector<future<std::vector<R>>> imap_unordered(const std::string& task,
                                                     const std::vector<A>& inputs,
                                                     size_t chunksize = 1, task_options call = {}) {
    check_types<A, R>(task);
    auto chunks = submit_chunks<A, R>(task, inputs, chunksize == 0 ? 1 : chunksize, call);
    std::vector<future<std::vector<R>>> out;
    for (auto& chunk : chunks) {
      auto typed = make_pending_future<std::vector<R>>();
      typed.state()->set_canceller(detail::canceller_for(chunk.job));
      typed.state()->set_callback_executor(callback_executor());
      chunk.result.add_done_callback([typed, task, c = chunk](const future<detail::job_result>&) {
        try {
          std::vector<R> values;
          detail::decode_chunk<R>(task, c, values);
          typed.state()->set_value(std::move(values));
        } catch (const task_error& e) {
          typed.state()->set_error(e.error());
        }
      });
      out.push_back(std::move(typed));
    }
    return out;
  }

  // -- apply_async --------------------------------------------------------------------------------

  /// Runs one task asynchronously. With a callback, it is called with the result on success
  /// (Python's callback); failures are in the future.
  template <class F>
  auto apply_async(F fn, const task_argument_t<F>& arg, task_options call = {}) {
    return apply_async<task_result_t<F>>(task_name(fn), arg, call);
  }

  template <class F, class Callback,
            class = std::enable_if_t<!std::is_same<std::decay_t<Callback>, task_options>::value>>
  auto apply_async(F fn, const task_argument_t<F>& arg, Callback callback, task_options call = {}) {
    auto fut = apply_async(fn, arg, call);
    fut.add_done_callback([callback](const auto& done) {
      if (!done.error())
        callback(done.result());
    });
    return fut;
  }

  template <class R, class A>
  future<R> apply_async(const std::string& task, const A& arg, task_options call = {}) {
    check_types<A, R>(task);
    auto fut = make_pending_future<R>();
    auto j = std::make_shared<detail::job>();
    j->task = task;
    j->count = 1;
    j->mergeable = true;
    j->timeout = call.timeout.value_or(std::chrono::milliseconds{-1});
    j->check = detail::parses_as<R>;
    fut.state()->set_canceller(detail::canceller_for(j));
    fut.state()->set_callback_executor(callback_executor());
    items::append(j->args, arg);
    j->done = detail::complete_one<R>(fut.state(), task);
    submit({std::move(j)});
    return fut;
  }

  // -- lifecycle ----------------------------------------------------------------------------------

  /// No more tasks may be submitted (they fail with errc::pool_closed).
  void close();

  /// Waits for every submitted task, then stops the worker processes this pool started.
  /// Requires close() first (as in Python); calls it if needed.
  void join();

  /// As join(), giving up after `timeout`: false if work was still pending (the pool goes on;
  /// join or terminate later).
  bool join(std::chrono::milliseconds timeout);

  /// Stops at once: worker processes this pool started are killed, tasks not finished fail
  /// with errc::terminated, late results are discarded. Joined workers are released.
  void terminate();

  pool_stats stats() const;

  /// The task name a registered function was added under; throws std::invalid_argument.
  std::string task_name(const void* function) const;
  template <class F>
  std::string task_name(F* fn) const {
    return task_name(reinterpret_cast<const void*>(fn));
  }

private:
  template <class A, class R>
  void check_types(const std::string& task) const {
    check_types_impl(task, typeid(A), typeid(R));
  }
  void check_types_impl(const std::string& task, const std::type_info& arg,
                        const std::type_info& result) const;

  size_t auto_chunksize(size_t items) const;

  template <class A, class R>
  std::vector<detail::chunk> submit_chunks(const std::string& task, const std::vector<A>& inputs,
                                           size_t chunksize, const task_options& call) {
    auto chunks = detail::make_chunks<R>(
        task, inputs.size(), chunksize == 0 ? auto_chunksize(inputs.size()) : chunksize,
        call.timeout.value_or(std::chrono::milliseconds{-1}),
        [&inputs](std::string& out, size_t i) { items::append(out, inputs[i]); });
    std::vector<detail::job_ptr> jobs;
    jobs.reserve(chunks.size());
    for (auto& c : chunks)
      jobs.push_back(c.job);
    submit(std::move(jobs));
    return chunks;
  }

  void submit(std::vector<detail::job_ptr> jobs);
  bool join_within(std::optional<std::chrono::milliseconds> timeout);
  detail::callback_executor callback_executor() const;
  void keep_final_stats();
  void stop_children(const std::vector<peer>& children, std::chrono::milliseconds grace);

  node& node_;
  pool_options opts_;
  caf::actor dispatcher_;
  // Set once joined or terminated: the dispatcher is gone, submissions fail at once.
  std::atomic<bool> joined_{false};
  pool_stats final_stats_;
  std::shared_ptr<detail::callback_thread> callbacks_;  // runs the futures' done-callbacks
};

}  // namespace troupe
