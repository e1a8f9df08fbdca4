// troupe::process_pool: the multiprocessing.Pool and the ProcessPoolExecutor of troupe. Tasks
// (config::tasks()) run on worker processes: children this pool starts over socketpairs, and
// nodes that join the head over TCP.
//
//   troupe::process_pool pool{node, {.workers = 2}};
//   auto f = pool.submit(formatter, "Hello", 1);                   // future<R>, as thread_pool
//   std::vector<int64_t> squares = pool.map(square, inputs);       // ordered, chunked
//   pool.apply_async(formatter, std::tuple{"Hello", 2}, print);    // print runs with the result
//   for (auto& r : pool.imap(square, inputs)) ...                  // in order, as they come
//   for (auto& r : pool.imap_unordered(square, inputs)) ...        // as chunks complete
//   auto outcomes = pool.map_outcomes(square, inputs);             // one expected per item
//   pool.shutdown();                                               // or close(); join(); or RAII
//
//   troupe::process_pool bounded{node, {.workers = 4, .task_timeout = 10s}};
//   auto g = bounded.submit(troupe::task_options{.timeout = 1s}, render, tile);
//   g.result(5s);        // throws troupe::timeout_error if not done by then; the task goes on
//   g.cancel();          // true if it had not started: it never will
//   bounded.join(30s);   // false if work is still pending after 30 s
//   bounded.terminate(); // now: workers killed, pending futures fail with errc::terminated
//
// The verbs: the Executor interface (submit, map of several inputs, shutdown) is the same as
// thread_pool's, so switching threads for processes is a one-word change. The multiprocessing
// verbs (apply, apply_async, map, map_async, starmap, starmap_async, imap, imap_unordered) take
// a chunk size where Python does (0: Python's choice, inputs / (4 * workers)), and every verb
// takes task_options. A task is named by its registered function (a function pointer), or by
// its registered name with the result type given (map<R>("square", inputs)).
//
// How each verb reports failure (one way per verb): a future fails (result() throws, error()
// says why); a blocking verb (apply, map, starmap) throws for the first failed item in input
// order, after every item finished; imap's iteration throws where the failed item is reached;
// map_outcomes never throws for an item: each is a troupe::outcome<R> (caf::expected<R>)
// holding its value or its own error. What is thrown: a task's exception of the standard family
// (std::invalid_argument, std::out_of_range, ...) as that type with the worker's message;
// anything else (another exception type, a lost worker, a closed pool) as troupe::task_error.
// A task that throws fails with errc::task_failed, its exception's type and message. Calling
// an unregistered function, or a task with other types than it was registered with, throws
// std::invalid_argument.
//
// Dispatch is least-loaded: each worker holds a small window of batches (sized from measured
// task and round-trip times), so long and short tasks mixed keep every worker busy; queued tiny
// calls are merged into one batch per round trip. A batch that waits on a worker behind a
// long-running one is handed back and taken by an idle worker.
//
// Failures of workers: a worker that dies (killed, crashed, declared down by heartbeat),
// returns malformed results, or stops answering (see pool_options) has its batches re-dispatched
// and is replaced; results from a worker declared dead are discarded, so map still returns
// every result exactly once, in order. A task in flight on max_kills deaths (run alone after the
// first) fails with errc::worker_lost naming the task. With a task timeout, an item that runs
// longer fails with errc::task_timeout naming the task and item, and its worker is replaced.
//
// Values too large for the wire: an item's arguments and its result each cross in one frame,
// so each may take at most the node's max_frame_size (16 MiB by default; --max-frame-size
// BYTES, node_options::max_frame_size) less 1 KiB, encoded. An item over it fails at once with
// errc::message_too_large naming the task, the item, the size and the limit (result() throws
// troupe::task_error): arguments before they are sent, a result on its worker instead of the
// reply. The other items of the same map succeed, nothing runs again, and no worker is killed,
// dropped or blamed.
//
// Nothing waits forever: worker processes that keep failing at start-up fail the pool's work
// with errc::worker_start_failed (their exit status and last stderr line); work that has had no
// worker for worker_wait fails with errc::worker_lost; while waiting for workers to join, the
// pool says so on the log every few seconds, with where they should connect.
//
// Threads: every member function may be called from any non-actor thread. Callbacks (apply_async's
// callback and error_callback) and the done-callbacks of this pool's futures run on the pool's
// own callback thread, one at a time in completion order, never on its dispatcher: a slow one
// delays only the callbacks after it, never dispatch or other futures; one may block on another
// future or call the pool.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include "troupe/actors/future.hpp"
#include "troupe/actors/shutdown_options.hpp"
#include "troupe/nodes/node.hpp"
#include "troupe/nodes/pool/detail/results.hpp"
#include "troupe/nodes/pool/imap.hpp"
#include "troupe/nodes/pool/options.hpp"

namespace troupe {

/// One item's outcome in map_outcomes: its value, or the caf::error it failed with (errc codes,
/// as future::error()).
template <class R>
using outcome = caf::expected<R>;

namespace detail {
class callback_thread;

template <class T>
struct is_std_vector : std::false_type {};
template <class T, class A>
struct is_std_vector<std::vector<T, A>> : std::true_type {};
}  // namespace detail

/// The inputs of map: a std::vector of arguments.
template <class T>
concept pool_inputs = detail::is_std_vector<std::decay_t<T>>::value;

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

  // -- the Executor interface (as thread_pool) ---------------------------------------------------

  /// Runs fn(args...) on a worker; the future holds its result.
  template <class F, class... Args>
  requires(!std::is_same_v<std::decay_t<F>, task_options>) auto submit(F fn, const Args&... args) {
    return submit(task_options{}, fn, args...);
  }

  template <class F, class... Args>
  auto submit(task_options call, F fn, const Args&... args) {
    using R = detail::pool_result_t<F>;
    auto task = task_name(fn);
    return submit_one<R>(task, call,
                         [&](std::string& out) { detail::append_call<F>(out, args...); });
  }

  /// fn(xs[i], ys[i], ...) for every i, in input order, as Python's map(fn, xs, ys): the
  /// shortest input decides how many calls there are.
  template <class F, pool_inputs... Inputs>
  requires(sizeof...(Inputs) > 0) auto map(F fn, const Inputs&... inputs) {
    using R = detail::pool_result_t<F>;
    size_t n = std::min({inputs.size()...});
    auto chunks = submit_many<R>(task_name(fn), n, 0, {}, [&](std::string& out, size_t i) {
      detail::append_call<F>(out, inputs[i]...);
    });
    return collect<R>(chunks, n);
  }

  /// No more tasks are accepted; with wait, returns once they all finished and the workers
  /// stopped (join()); without, at once (the destructor waits). cancel_futures: calls no worker
  /// has taken yet fail with errc::cancelled.
  void shutdown(shutdown_options how = {});

  // -- multiprocessing.Pool ----------------------------------------------------------------------

  /// fn(args...) on a worker, blocking until its result is there.
  template <class F, class... Args>
  auto apply(F fn, const Args&... args) {
    return submit(fn, args...).result();
  }

  /// fn(args...) with Python's args tuple; `callback(result)` on success, `error_callback(
  /// caf::error)` on failure, both on the pool's callback thread. The future has the result too.
  template <class F, class... Args, class Callback, class ErrorCallback>
  requires std::invocable<ErrorCallback&, const caf::error&>
  auto apply_async(F fn, const std::tuple<Args...>& args, Callback callback,
                   ErrorCallback error_callback, task_options call = {}) {
    auto fut = std::apply([&](const Args&... xs) { return submit(call, fn, xs...); }, args);
    fut.add_done_callback([callback, error_callback](const auto& done) {
      if (auto err = done.error())
        error_callback(err);
      else
        invoke_callback(callback, done);
    });
    return fut;
  }

  template <class F, class... Args, class Callback>
  requires(!std::is_same_v<std::decay_t<Callback>, task_options>) auto apply_async(
      F fn, const std::tuple<Args...>& args, Callback callback, task_options call = {}) {
    return apply_async(
        fn, args, callback, [](const caf::error&) {}, call);
  }

  template <class F, class... Args>
  auto apply_async(F fn, const std::tuple<Args...>& args, task_options call = {}) {
    return std::apply([&](const Args&... xs) { return submit(call, fn, xs...); }, args);
  }

  /// The one-argument form: apply_async(fn, x) is apply_async(fn, std::tuple{x}).
  template <class F, class Arg, class... Rest>
  requires(!detail::is_tuple<std::decay_t<Arg>>::value) auto apply_async(F fn, const Arg& arg,
                                                                         Rest&&... rest) {
    return apply_async(fn, std::tuple<const Arg&>{arg}, std::forward<Rest>(rest)...);
  }

  /// fn(x) for every input, in input order; chunk size 0: Python's choice.
  template <class F, pool_inputs Inputs>
  auto map(F fn, const Inputs& inputs, size_t chunksize, task_options call = {}) {
    using R = detail::pool_result_t<F>;
    return collect<R>(submit_inputs<F>(fn, inputs, chunksize, call), inputs.size());
  }

  /// map without blocking: the future holds every result in input order, or the first failure.
  template <class F, pool_inputs Inputs>
  auto map_async(F fn, const Inputs& inputs, size_t chunksize = 0, task_options call = {}) {
    using R = detail::pool_result_t<F>;
    return gather<R>(submit_inputs<F>(fn, inputs, chunksize, call), inputs.size());
  }

  /// fn(std::get<0>(t), std::get<1>(t), ...) for every tuple t, in input order.
  template <class F, class... Args>
  auto starmap(F fn, const std::vector<std::tuple<Args...>>& inputs, size_t chunksize = 0,
               task_options call = {}) {
    using R = detail::pool_result_t<F>;
    return collect<R>(submit_tuples<F>(fn, inputs, chunksize, call), inputs.size());
  }

  template <class F, class... Args>
  auto starmap_async(F fn, const std::vector<std::tuple<Args...>>& inputs, size_t chunksize = 0,
                     task_options call = {}) {
    using R = detail::pool_result_t<F>;
    return gather<R>(submit_tuples<F>(fn, inputs, chunksize, call), inputs.size());
  }

  /// Lazy map: every chunk is submitted now; iterating yields results in input order, each as
  /// soon as it and those before it are ready (see imap.hpp).
  template <class F, pool_inputs Inputs>
  auto imap(F fn, const Inputs& inputs, size_t chunksize = 1, task_options call = {}) {
    using R = detail::pool_result_t<F>;
    return imap_iterable<R>{submit_inputs<F>(fn, inputs, chunksize == 0 ? 1 : chunksize, call)};
  }

  /// As imap, yielding results in the order their chunks complete.
  template <class F, pool_inputs Inputs>
  auto imap_unordered(F fn, const Inputs& inputs, size_t chunksize = 1, task_options call = {}) {
    using R = detail::pool_result_t<F>;
    return imap_unordered_iterable<R>{
        submit_inputs<F>(fn, inputs, chunksize == 0 ? 1 : chunksize, call)};
  }

  /// As map, but one outcome per item: a failed item costs no other result.
  template <class F, pool_inputs Inputs>
  auto map_outcomes(F fn, const Inputs& inputs, size_t chunksize = 0, task_options call = {}) {
    using R = detail::pool_result_t<F>;
    return outcomes_of<R>(submit_inputs<F>(fn, inputs, chunksize, call), inputs.size());
  }

  // -- by task name ------------------------------------------------------------------------------

  /// map of a task named at registration, with its result type: map<int64_t>("square", xs).
  template <class R, class A>
  std::vector<R> map(const std::string& task, const std::vector<A>& inputs, size_t chunksize = 0,
                     task_options call = {}) {
    check_types<A, R>(task);
    auto chunks =
        submit_many<R>(task, inputs.size(), chunksize, call,
                       [&](std::string& out, size_t i) { detail::append_by_name(out, inputs[i]); });
    return collect<R>(chunks, inputs.size());
  }

  template <class R, class A>
  std::vector<outcome<R>> map_outcomes(const std::string& task, const std::vector<A>& inputs,
                                       size_t chunksize = 0, task_options call = {}) {
    check_types<A, R>(task);
    auto chunks =
        submit_many<R>(task, inputs.size(), chunksize, call,
                       [&](std::string& out, size_t i) { detail::append_by_name(out, inputs[i]); });
    return outcomes_of<R>(chunks, inputs.size());
  }

  template <class R, class A>
  future<R> apply_async(const std::string& task, const A& arg, task_options call = {}) {
    check_types<A, R>(task);
    return submit_one<R>(task, call, [&](std::string& out) { detail::append_by_name(out, arg); });
  }

  template <class R, class A>
  imap_unordered_iterable<R> imap_unordered(const std::string& task, const std::vector<A>& inputs,
                                            size_t chunksize = 1, task_options call = {}) {
    check_types<A, R>(task);
    return imap_unordered_iterable<R>{submit_many<R>(
        task, inputs.size(), chunksize == 0 ? 1 : chunksize, call,
        [&](std::string& out, size_t i) { detail::append_by_name(out, inputs[i]); })};
  }

  // -- lifecycle ---------------------------------------------------------------------------------

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

  /// The name a task (function pointer, lambda or function object) was registered under;
  /// throws std::invalid_argument if it was not.
  template <task_function F>
  std::string task_name(const F& fn) const {
    const auto* entry = tasks().find(fn);
    if (!entry)
      throw std::invalid_argument(
          "this function is not a registered task: add it with cfg.tasks().add(name, function) "
          "in the program's setup");
    return entry->name;
  }

private:
  template <class Callback, class Future>
  static void invoke_callback(Callback& callback, const Future& done) {
    if constexpr (std::is_void_v<typename Future::value_type>)
      callback();
    else
      callback(done.result());
  }

  template <class A, class R>
  void check_types(const std::string& task) const {
    check_types_impl(task, typeid(A), typeid(R));
  }
  void check_types_impl(const std::string& task, const std::type_info& arg,
                        const std::type_info& result) const;
  const task_registry& tasks() const;

  size_t auto_chunksize(size_t items) const;

  /// One call; it may share a batch with other calls of its task.
  template <class R, class Encode>
  future<R> submit_one(const std::string& task, const task_options& call, Encode encode) {
    auto fut = detail::future_access::make_pending<R>();
    auto& state = detail::future_access::state(fut);
    auto j = std::make_shared<detail::job>();
    j->task = task;
    j->count = 1;
    j->mergeable = true;
    j->timeout = call.timeout.value_or(std::chrono::milliseconds{-1});
    j->check = detail::result_parses<R>;
    encode(j->args);
    state->set_canceller(detail::canceller_for(j));
    state->set_callback_executor(callback_executor());
    j->on_start = [weak = std::weak_ptr<detail::future_state<R>>{state}] {
      if (auto s = weak.lock())
        s->set_running_or_notify_cancel();
    };
    j->done = detail::complete_one<R>(state, task);
    submit({std::move(j)});
    return fut;
  }

  /// n calls in chunks; encode(out, i) appends call i.
  template <class R, class Encode>
  std::vector<detail::chunk> submit_many(const std::string& task, size_t n, size_t chunksize,
                                         const task_options& call, Encode encode) {
    // Chunks go to the dispatcher as soon as max_chunk_bytes of them are encoded: workers
    // start on the first while the rest are encoded, and small chunks still arrive together,
    // so that the dispatcher spreads them over its workers at once.
    std::vector<detail::job_ptr> pending;
    size_t pending_bytes = 0;
    auto chunks = detail::make_chunks<R>(task, n, chunksize == 0 ? auto_chunksize(n) : chunksize,
                                         call.timeout.value_or(std::chrono::milliseconds{-1}),
                                         encode, [&](const detail::chunk& c) {
                                           pending.push_back(c.job);
                                           pending_bytes += c.job->args.size();
                                           if (pending_bytes >= detail::max_chunk_bytes) {
                                             submit(std::move(pending));
                                             pending.clear();
                                             pending_bytes = 0;
                                           }
                                         });
    if (!pending.empty())
      submit(std::move(pending));
    return chunks;
  }

  template <class F, class Inputs>
  std::vector<detail::chunk> submit_inputs(F fn, const Inputs& inputs, size_t chunksize,
                                           const task_options& call) {
    using R = detail::pool_result_t<F>;
    return submit_many<R>(
        task_name(fn), inputs.size(), chunksize, call,
        [&](std::string& out, size_t i) { detail::append_call<F>(out, inputs[i]); });
  }

  template <class F, class... Args>
  std::vector<detail::chunk> submit_tuples(F fn, const std::vector<std::tuple<Args...>>& inputs,
                                           size_t chunksize, const task_options& call) {
    using R = detail::pool_result_t<F>;
    return submit_many<R>(
        task_name(fn), inputs.size(), chunksize, call, [&](std::string& out, size_t i) {
          std::apply([&](const Args&... xs) { detail::append_call<F>(out, xs...); }, inputs[i]);
        });
  }

  /// Waits for every chunk; the results in order, or task_error for the first failed item.
  /// Each chunk is decoded as soon as it is in, while later ones still run; the first failure
  /// in input order is thrown once every chunk is in.
  template <class R>
  static auto collect(const std::vector<detail::chunk>& chunks, size_t n) {
    std::exception_ptr failure;
    auto each = [&](auto decode) {
      for (auto& c : chunks) {
        c.result.wait_for(detail::unbounded_wait);
        if (failure)
          continue;
        try {
          decode(c);
        } catch (...) {
          failure = std::current_exception();
        }
      }
      if (failure)
        std::rethrow_exception(failure);
    };
    if constexpr (std::is_void_v<R>) {
      each([](const detail::chunk& c) { detail::check_chunk(c); });
    } else {
      std::vector<R> out;
      out.reserve(n);
      each([&out](const detail::chunk& c) { detail::decode_chunk<R>(c, out); });
      return out;
    }
  }

  template <class R>
  static std::vector<outcome<R>> outcomes_of(const std::vector<detail::chunk>& chunks, size_t n) {
    std::vector<outcome<R>> out;
    out.reserve(n);
    for (auto& c : chunks) {
      c.result.wait_for(detail::unbounded_wait);
      for (auto& item : detail::chunk_outcomes<R>(c))
        out.push_back(std::move(item));
    }
    return out;
  }

  /// A future of every chunk's results, completed on the callback thread once all are in.
  template <class R>
  auto gather(std::vector<detail::chunk> chunks, size_t n) {
    using V = std::conditional_t<std::is_void_v<R>, void, std::vector<R>>;
    auto fut = detail::future_access::make_pending<V>();
    auto state = detail::future_access::state(fut);
    state->set_callback_executor(callback_executor());
    auto shared = std::make_shared<std::vector<detail::chunk>>(std::move(chunks));
    auto left = std::make_shared<std::atomic<size_t>>(shared->size());
    auto complete = [state, shared, n] {
      // The first failure in input order, found without throwing: a task's exception keeps
      // its type in the future (fail_future), whatever type it is.
      for (auto& c : *shared) {
        if (auto err = detail::chunk_error(c)) {
          detail::fail_future(*state, std::move(err));
          return;
        }
      }
      try {
        if constexpr (std::is_void_v<R>) {
          collect<R>(*shared, n);
          state->set_value({});
        } else {
          state->set_value(collect<R>(*shared, n));
        }
      } catch (const task_error& e) {
        detail::fail_future(*state, e.error());
      }
    };
    if (shared->empty())
      complete();
    for (auto& c : *shared) {
      detail::future_access::state(c.result)->set_callback_executor(callback_executor());
      c.result.add_done_callback([left, complete](const auto&) {
        if (left->fetch_sub(1) == 1)
          complete();
      });
    }
    return fut;
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
