#include "troupe/actors/thread_pool.hpp"

#include <algorithm>
#include <deque>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/actors/atoms.hpp"

// Tasks are closures and never leave the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::detail::pool_task_ptr)

namespace troupe {
namespace {

using detail::pool_task_ptr;

caf::behavior pool_worker(caf::event_based_actor*) {
  return {
    [](run_atom, const pool_task_ptr& task) { task->run(); },
  };
}

struct dispatcher_state {
  std::deque<pool_task_ptr> queue;
  std::vector<caf::actor> idle;
  size_t running = 0;
  bool closing = false;
  std::shared_ptr<detail::future_state<void>> drained;
  static inline const char* name = "troupe.thread_pool";
};

using dispatcher_actor = caf::stateful_actor<dispatcher_state>;

void spawn_worker(dispatcher_actor* self) {
  self->state.idle.push_back(self->spawn<caf::detached + caf::monitored>(pool_worker));
}

void finish_if_drained(dispatcher_actor* self) {
  auto& st = self->state;
  if (!st.closing || !st.queue.empty() || st.running > 0)
    return;
  for (auto& worker : st.idle)
    self->send_exit(worker, caf::exit_reason::user_shutdown);
  st.idle.clear();
  st.drained->set_value({});
  self->quit();
}

void dispatch(dispatcher_actor* self) {
  auto& st = self->state;
  while (!st.queue.empty() && !st.idle.empty()) {
    auto worker = std::move(st.idle.back());
    st.idle.pop_back();
    auto task = std::move(st.queue.front());
    st.queue.pop_front();
    ++st.running;
    self->request(worker, caf::infinite, run_atom::value, task)
      .then(
        [self, worker] {
          --self->state.running;
          self->state.idle.push_back(worker);
          dispatch(self);
          finish_if_drained(self);
        },
        [self, task](caf::error& err) {
          // The worker terminated. A task it never started goes back to the queue; one it
          // started fails with the worker's exit reason. The down handler replaces the worker.
          --self->state.running;
          if (!task->started())
            self->state.queue.push_front(task);
          else
            task->fail(std::move(err));
          dispatch(self);
          finish_if_drained(self);
        });
  }
}

caf::behavior dispatcher(dispatcher_actor* self, size_t max_workers,
                         std::shared_ptr<detail::future_state<void>> drained) {
  self->state.drained = std::move(drained);
  for (size_t i = 0; i < max_workers; ++i)
    spawn_worker(self);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& idle = self->state.idle;
    idle.erase(std::remove_if(idle.begin(), idle.end(),
                              [&](const caf::actor& w) { return w.address() == msg.source; }),
               idle.end());
    if (!self->state.closing || !self->state.queue.empty())
      spawn_worker(self);
    dispatch(self);
    finish_if_drained(self);
  });
  return {
    [self](submit_atom, pool_task_ptr& task) {
      self->state.queue.push_back(std::move(task));
      dispatch(self);
    },
    [self](shutdown_atom, bool cancel_futures) {
      auto& st = self->state;
      st.closing = true;
      if (cancel_futures) {
        for (auto& task : st.queue)
          task->fail(make_error(errc::cancelled, "thread pool shut down"));
        st.queue.clear();
      }
      finish_if_drained(self);
    },
  };
}

}  // namespace

size_t thread_pool::default_max_workers() {
  return std::min<size_t>(32, std::max(1u, std::thread::hardware_concurrency()) + 4);
}

thread_pool::thread_pool(caf::actor_system& sys, size_t max_workers)
  : sys_(sys), max_workers_(std::max<size_t>(1, max_workers)),
    drained_(make_pending_future<void>()) {
  dispatcher_ = sys_.spawn(dispatcher, max_workers_, drained_.state());
}

thread_pool::~thread_pool() {
  shutdown(true);
}

void thread_pool::enqueue(pool_task_ptr task) {
  std::shared_lock<std::shared_mutex> guard{closing_};
  if (closed_)
    throw task_error{make_error(errc::pool_closed, "submit after shutdown")};
  caf::anon_send(dispatcher_, submit_atom::value, std::move(task));
}

void thread_pool::shutdown(bool wait, bool cancel_futures) {
  {
    // Every submit that got past the check has sent its task before the shutdown message.
    std::unique_lock<std::shared_mutex> guard{closing_};
    if (!closed_) {
      closed_ = true;
      caf::anon_send(dispatcher_, shutdown_atom::value, cancel_futures);
    }
  }
  if (wait)
    drained_.state()->wait();
}

}  // namespace troupe
