#include "troupe/actors/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/actors/detail/current_pool_worker.hpp"

namespace troupe {
namespace detail {
namespace {

// A worker checks its mailbox after this many tasks in a row, so that an exit message does not
// wait for the queue to run dry.
constexpr size_t tasks_per_wakeup = 256;

// How long a worker that found the queue empty keeps looking before it parks. In a burst of
// tiny tasks the queue runs dry between submits all the time; parking then costs a wake-up
// (a futex call in the submitter, a context switch in the worker) for almost every task. One
// looking worker absorbs those gaps (in the 200k-task benchmark on 2 cores: ~3k context
// switches instead of ~45k, 2.9M tasks/s instead of 1.7M). Only one worker looks at a time, it
// yields its core to any thread that wants it (the submitter may share it), and nobody looks
// after shutdown.
constexpr auto look_budget = std::chrono::microseconds{20};

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

thread_local const caf::actor* this_worker = nullptr;
// The pool whose worker the calling thread is, so that the pool can tell a call from one of its
// own tasks (or their done-callbacks), which must not wait for the pool to finish.
thread_local const pool_core* this_workers_pool = nullptr;

// Marks the calling thread as `worker`'s, a worker of `pool`, for the scope (see
// current_pool_worker).
class worker_scope {
public:
  worker_scope(const caf::actor& worker, const pool_core& pool) {
    this_worker = &worker;
    this_workers_pool = &pool;
  }
  ~worker_scope() {
    this_worker = nullptr;
    this_workers_pool = nullptr;
  }
  worker_scope(const worker_scope&) = delete;
  worker_scope& operator=(const worker_scope&) = delete;
};

}  // namespace

caf::actor current_pool_worker() {
  return this_worker != nullptr ? *this_worker : caf::actor{};
}

// Each worker is, at any time, in one of three states, and the core counts them:
//
//   [parked] --run_atom--> [looking] --takes a task--> [running] --takes the next task--+
//       ^                      |   ^                      |   ^                            |
//       +----queue empty-------+   +-----task done--------+   +----------------------------+
//
// A running worker whose task is done takes the next one in the same step; it goes back to
// looking when the queue is empty, or to let its mailbox in (tasks_per_wakeup). Terminated
// workers leave the count from parked or looking, never from running (see worker_gone).
//
// A task is in the queue until a worker takes it, then with that worker until it ran. Its future
// is marked running when the worker starts it; a future cancelled while its task was queued
// stays behind in the queue as a task the worker takes and skips (pool_task::run), so cancel()
// never touches the queue or the counts. shutdown(cancel_futures) empties the queue instead and
// cancels every task it held.
//
// The invariant behind "no task waits behind a blocked one": while the queue holds a task and a
// worker is parked, at least one worker is looking. Running workers do not count, since their
// task may block. Every transition below keeps it, and wakes at most one parked worker.
class pool_core {
public:
  explicit pool_core(size_t max_workers) {
    parked_.reserve(max_workers);  // parking never allocates
  }

  void set_supervisor(caf::actor supervisor) {
    std::lock_guard<std::mutex> guard{mtx_};
    supervisor_ = std::move(supervisor);
  }

  // ---- the pool's side ----------------------------------------------------------------------

  void submit(pool_task_ptr task) {
    caf::actor wake;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        throw task_error{make_error(errc::pool_closed, "submit after shutdown")};
      queue_.push_back(std::move(task));
      queued_.store(queue_.size(), std::memory_order_relaxed);
      wake = wake_one_if_unwatched();
    }
    send_wakeup(wake);
  }

  /// Stops accepting tasks; cancel_futures cancels the queued ones.
  void close(bool cancel_futures) {
    std::deque<pool_task_ptr> cancelled;
    bool finished;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      closed_ = true;
      if (cancel_futures) {
        cancelled.swap(queue_);
        queued_.store(0, std::memory_order_relaxed);
      }
      finished = finish_if_drained();
    }
    // Outside the lock: a future's callbacks may call back into the pool.
    for (auto& task : cancelled)
      task->cancel(make_error(errc::cancelled, "thread pool shut down"));
    if (finished)
      announce_finished();
  }

  /// True on the thread of one of this pool's workers: in its tasks and in the done-callbacks
  /// they run. Waiting for the pool to finish there would wait for the calling task itself.
  bool on_own_worker() const noexcept {
    return this_workers_pool == this;
  }

  /// Blocks until the pool is closed and every accepted task has completed its future.
  void wait_finished() {
    std::unique_lock<std::mutex> guard{mtx_};
    finished_cv_.wait(guard, [this] { return finished_; });
  }

  // ---- the workers' side --------------------------------------------------------------------

  enum class worker_was { looking, running };

  /// The next task for `worker`, or null once it parked (it waits for a run_atom then).
  pool_task_ptr take(const caf::actor& worker, worker_was before) {
    pool_task_ptr task;
    caf::actor wake;
    bool finished = false;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      if (before == worker_was::running) {
        --running_;
        finished = finish_if_drained();
      } else {
        --looking_;
      }
      for (bool looked = false;; looked = true) {
        if (!queue_.empty()) {
          task = std::move(queue_.front());
          queue_.pop_front();
          queued_.store(queue_.size(), std::memory_order_relaxed);
          ++running_;
          wake = wake_one_if_unwatched();
          break;
        }
        if (looked || closed_ || someone_looks_) {
          if (!finished_)
            parked_.push_back(worker);
          break;
        }
        someone_looks_ = true;
        ++looking_;
        guard.unlock();
        look_for_tasks();
        guard.lock();
        someone_looks_ = false;
        --looking_;
      }
    }
    send_wakeup(wake);
    if (finished)
      announce_finished();
    return task;
  }

  /// A running worker goes back to its mailbox before taking its next task.
  void pause() {
    bool finished;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      --running_;
      ++looking_;
      finished = finish_if_drained();
    }
    if (finished)
      announce_finished();
  }

  // ---- the supervisor's side ----------------------------------------------------------------

  /// A new worker, about to receive its first run_atom.
  void worker_started() {
    std::lock_guard<std::mutex> guard{mtx_};
    ++looking_;
  }

  /// Forgets a terminated worker; true if the pool still needs a replacement. A worker only
  /// handles an exit message between tasks: it died parked or with a run_atom in its mailbox.
  bool worker_gone(const caf::actor_addr& worker) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = std::find_if(parked_.begin(), parked_.end(),
                          [&](const caf::actor& x) { return x.address() == worker; });
    if (i != parked_.end())
      parked_.erase(i);
    else
      --looking_;
    return !finished_;
  }

private:
  // Requires the lock. Picks the parked worker to wake, if the invariant needs one.
  caf::actor wake_one_if_unwatched() {
    if (queue_.empty() || looking_ > 0 || parked_.empty())
      return {};
    auto worker = std::move(parked_.back());  // the most recently parked: its cache is warm
    parked_.pop_back();
    ++looking_;
    return worker;
  }

  static void send_wakeup(const caf::actor& worker) {
    if (worker)
      caf::anon_send(worker, run_atom::value);
  }

  // Requires the lock. True exactly once: when the pool is closed and no task is left.
  bool finish_if_drained() {
    if (finished_ || !closed_ || !queue_.empty() || running_ > 0)
      return false;
    finished_ = true;
    return true;
  }

  // The supervisor stops the workers and itself; the pool's handles go, breaking the cycle
  // between the core and the actors that share it.
  void announce_finished() {
    caf::actor supervisor;
    std::vector<caf::actor> parked;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      supervisor.swap(supervisor_);
      parked.swap(parked_);
    }
    finished_cv_.notify_all();
    caf::anon_send(supervisor, shutdown_atom::value);
  }

  void look_for_tasks() const {
    auto deadline = std::chrono::steady_clock::now() + look_budget;
    do {
      for (int i = 0; i < 64; ++i) {
        if (queued_.load(std::memory_order_relaxed) > 0)
          return;
        cpu_relax();
      }
      std::this_thread::yield();
    } while (std::chrono::steady_clock::now() < deadline);
  }

  std::mutex mtx_;
  std::condition_variable finished_cv_;
  std::deque<pool_task_ptr> queue_;
  std::atomic<size_t> queued_{0};  // queue_.size(), readable without the lock
  std::vector<caf::actor> parked_;
  size_t looking_ = 0;
  size_t running_ = 0;
  bool someone_looks_ = false;
  bool closed_ = false;
  bool finished_ = false;
  caf::actor supervisor_;
};

namespace {

// ---- worker ---------------------------------------------------------------------------------

struct worker_state {
  static inline const char* name = "troupe.thread_pool.worker";
};

using worker_actor = caf::stateful_actor<worker_state>;

// Runs queued tasks until the queue is empty (the worker parks) or tasks_per_wakeup ran (the
// worker sends itself a run_atom to let its mailbox in).
void run_queued_tasks(worker_actor* self, pool_core& core) {
  auto me = caf::actor_cast<caf::actor>(self);
  worker_scope scope{me, core};
  auto task = core.take(me, pool_core::worker_was::looking);
  for (size_t ran = 1; task != nullptr; ++ran) {
    task->run();
    task.reset();  // the task's captures go before the next task starts
    if (ran == tasks_per_wakeup) {
      core.pause();
      self->send(self, run_atom::value);
      return;
    }
    task = core.take(me, pool_core::worker_was::running);
  }
}

caf::behavior pool_worker(worker_actor* self, std::shared_ptr<pool_core> core) {
  return {
      [self, core](run_atom) { run_queued_tasks(self, *core); },
  };
}

// ---- supervisor -----------------------------------------------------------------------------

struct supervisor_state {
  std::shared_ptr<pool_core> core;
  std::vector<caf::actor> workers;
  static inline const char* name = "troupe.thread_pool";
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

void spawn_worker(supervisor_actor* self) {
  auto& st = self->state;
  auto worker = self->spawn<caf::detached + caf::monitored>(pool_worker, st.core);
  st.core->worker_started();
  caf::anon_send(worker, run_atom::value);  // its first look at the queue
  st.workers.push_back(std::move(worker));
}

caf::behavior pool_supervisor(supervisor_actor* self, std::shared_ptr<pool_core> core,
                              size_t max_workers) {
  self->state.core = std::move(core);
  for (size_t i = 0; i < max_workers; ++i)
    spawn_worker(self);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& workers = self->state.workers;
    workers.erase(std::remove_if(workers.begin(), workers.end(),
                                 [&](const caf::actor& w) { return w.address() == msg.source; }),
                  workers.end());
    if (self->state.core->worker_gone(msg.source))
      spawn_worker(self);
  });
  return {
      // From the core, once the pool is closed and drained.
      [self](shutdown_atom) {
        for (auto& worker : self->state.workers)
          self->send_exit(worker, caf::exit_reason::user_shutdown);
        self->state.workers.clear();
        self->quit();
      },
  };
}

}  // namespace
}  // namespace detail

size_t thread_pool::default_max_workers() {
  return std::min<size_t>(32, std::max(1u, std::thread::hardware_concurrency()) + 4);
}

namespace {

size_t checked_max_workers(size_t max_workers) {
  if (max_workers == 0)
    throw std::invalid_argument{"thread_pool: max_workers must be greater than 0"};
  return max_workers;
}

}  // namespace

thread_pool::thread_pool(caf::actor_system& sys, size_t max_workers)
    : max_workers_(checked_max_workers(max_workers)),
      core_(std::make_shared<detail::pool_core>(max_workers_)) {
  core_->set_supervisor(sys.spawn(detail::pool_supervisor, core_, max_workers_));
}

thread_pool::~thread_pool() {
  // Destroyed by one of its own tasks (the last handle was in its captures or a done-callback):
  // waiting would wait for that task. The pool closes and finishes on its own once drained.
  shutdown({.wait = !core_->on_own_worker()});
}

void thread_pool::enqueue(detail::pool_task_ptr task) {
  core_->submit(std::move(task));
}

void thread_pool::shutdown(shutdown_options options) {
  // Checked before anything changes: the call that throws leaves the pool as it was.
  if (options.wait && core_->on_own_worker())
    throw std::logic_error{
        "thread_pool::shutdown(): waiting for the pool from one of its own tasks (or a "
        "done-callback running on its worker) would wait for that task forever; call "
        "shutdown({.wait = false}) from a task, or shutdown() from outside the pool"};
  core_->close(options.cancel_futures);
  if (options.wait)
    core_->wait_finished();
}

}  // namespace troupe
