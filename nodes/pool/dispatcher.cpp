// The process pool's dispatcher (see dispatcher.hpp for its protocol): its queue, the batches
// it sends, and the workers it starts, uses and drops.
#include "troupe/nodes/pool/dispatcher.hpp"

#include <algorithm>
#include <thread>

#include <caf/event_based_actor.hpp>

#include "troupe/messages/errc.hpp"
#include "troupe/nodes/connection.hpp"
#include "troupe/nodes/frame_limit.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/node_protocol.hpp"
#include "troupe/nodes/observe/observatory.hpp"
#include "troupe/nodes/pool/dispatcher_state.hpp"
#include "troupe/nodes/pool/task_runner.hpp"

namespace troupe::detail {

namespace {

// Asks the node to stop one of our worker processes (a Goodbye, then SIGKILL after `grace`).
void stop_child(dispatcher_actor* self, uint64_t id, std::chrono::milliseconds grace) {
  self->request(self->state.manager, std::chrono::seconds{10}, stop_atom::value, id,
                std::chrono::duration_cast<caf::timespan>(grace))
      .then([](int) {},
            [id](caf::error& err) {
              log::get().warn("pool: stopping worker {}: {}", id, describe(err));
            });
}

}  // namespace

namespace {

std::string item_range(const job& j) {
  return std::to_string(j.first_index)
         + (j.count > 1 ? "-" + std::to_string(j.first_index + j.count - 1) : std::string{});
}

}  // namespace

std::string job_name(const job& j) {
  return "task '" + j.task + "' (item " + item_range(j) + ")";
}

void finish(dispatcher_actor* self, const job_ptr& j, job_result&& r) {
  self->state.stats.tasks_completed += j->count;
  for (auto& f : r.failures)
    record_failure(self, *j, f.index, 1,
                   [&f] { return f.type.empty() ? f.message : f.type + ": " + f.message; });
  auto done = std::move(j->done);
  j->done = nullptr;
  if (done)
    done(std::move(r));
}

void fail(dispatcher_actor* self, const job_ptr& j, caf::error err) {
  if (!is(err, errc::cancelled))  // withdrawn by its caller: nothing went wrong
    record_failure(self, *j, 0, j->count, [&err] { return describe(err); });
  job_result r;
  r.error = std::move(err);
  auto done = std::move(j->done);
  j->done = nullptr;
  if (done)
    done(std::move(r));
}

void fail_all(dispatcher_actor* self, const caf::error& err) {
  auto& st = self->state;
  for (auto& j : st.queue)
    fail(self, j, err);
  st.queue.clear();
  for (auto& kv : st.batches)
    for (auto& j : kv.second.jobs)
      fail(self, j, err);
  st.batches.clear();
  for (auto& kv : st.workers) {
    kv.second.in_flight = 0;
    kv.second.exclusive = false;
    kv.second.order.clear();
  }
}

void notify_waiters(dispatcher_actor* self) {
  auto& st = self->state;
  // Cancelled jobs leave the queue here, so that a pool without workers can still drain.
  st.queue.erase(std::remove_if(st.queue.begin(), st.queue.end(),
                                [](const job_ptr& j) { return j->phase.load() == job::cancelled; }),
                 st.queue.end());
  auto& ws = st.worker_waiters;
  for (auto i = ws.begin(); i != ws.end();) {
    if (st.workers.size() >= i->first) {
      i->second.deliver(true);
      i = ws.erase(i);
    } else if (st.gave_up) {
      i->second.deliver(st.gave_up);
      i = ws.erase(i);
    } else {
      ++i;
    }
  }
  if (st.closing && !has_work(st))
    st.start_queue.clear();  // not begun yet: a closed pool with nothing to do needs none
  if (st.closing && !has_work(st) && st.starting == 0) {
    std::vector<peer> children;
    for (auto& kv : st.own_children)
      children.push_back(kv.second);
    for (auto& rp : st.drained_waiters)
      rp.deliver(children);
    st.drained_waiters.clear();
  }
}

// Stops using a worker that misbehaved (silent, malformed results, a timed-out task): our own
// children are killed (and replaced on peer_down), other nodes are disconnected. Its batches
// run elsewhere.
void fence(dispatcher_actor* self, uint64_t id, const caf::error& reason, bool blameless) {
  auto& st = self->state;
  auto w = st.workers.find(id);
  if (w == st.workers.end())
    return;
  ++st.stats.fenced;
  auto node = w->second.node;
  log::get().warn("pool: dropping worker {} ({})", node.name, describe(reason));
  if (st.own_children.count(id) > 0) {
    stop_child(self, id, std::chrono::milliseconds{500});
  } else {
    st.fenced.insert(node.name);
    self->send(node.connection, close_link_atom::value);
  }
  worker_lost(self, id, reason, blameless);
}

// Removes a batch from its worker's books; the next batch there starts now.
batch take_batch(dispatcher_actor* self, std::unordered_map<uint64_t, batch>::iterator i) {
  auto& st = self->state;
  auto b = std::move(i->second);
  auto id = i->first;
  st.batches.erase(i);
  auto w = st.workers.find(b.worker);
  if (w != st.workers.end()) {
    auto& slot = w->second;
    --slot.in_flight;
    slot.exclusive = false;
    bool was_front = !slot.order.empty() && slot.order.front() == id;
    slot.order.erase(std::remove(slot.order.begin(), slot.order.end(), id), slot.order.end());
    if (was_front)
      slot.front_since = clock::now();
  }
  return b;
}

void requeue_front(dispatcher_actor* self, std::vector<job_ptr> jobs) {
  auto& q = self->state.queue;
  q.insert(q.begin(), jobs.begin(), jobs.end());
}

namespace {

std::chrono::milliseconds timeout_of(const dispatcher_state& st, const job& j) {
  auto t = j.timeout.count() >= 0 ? j.timeout : st.opts.task_timeout;
  return is_unbounded(t) ? std::chrono::milliseconds{0} : t;
}

worker_slot* pick_worker(dispatcher_actor* self, const job& next) {
  auto& st = self->state;
  std::vector<pool_plan::worker_load> loads;
  loads.reserve(st.workers.size());
  for (auto& [id, w] : st.workers)
    loads.push_back({.id = id, .in_flight = w.in_flight, .exclusive = w.exclusive});
  auto limit = pool_plan::window(st.costs, next.task, st.queue.size(), st.workers.size());
  auto id = pool_plan::pick_worker(loads, next.suspect, limit);
  return id ? &st.workers.at(*id) : nullptr;
}

void send_batch(dispatcher_actor* self, worker_slot& w, std::vector<job_ptr> jobs) {
  auto& st = self->state;
  auto id = st.next_batch++;
  pool::TaskBatch msg;
  msg.set_task(jobs.front()->task);
  msg.set_batch_id(id);
  uint32_t count = 0;
  size_t bytes = 0;
  for (auto& j : jobs)
    bytes += j->args.size();
  msg.mutable_args()->reserve(bytes);
  for (auto& j : jobs) {
    count += j->count;
    msg.mutable_args()->append(j->args);
  }
  msg.set_count(count);
  auto item_timeout = timeout_of(st, *jobs.front());
  msg.set_item_timeout_ms(static_cast<uint64_t>(std::max<int64_t>(item_timeout.count(), 0)));
  msg.set_max_frame_size(st.max_frame_size);
  bool alone = jobs.front()->suspect;
  bool queued = w.in_flight > 0;
  ++w.in_flight;
  w.exclusive = alone;
  auto now = clock::now();
  if (w.order.empty())
    w.front_since = now;
  w.order.push_back(id);
  batch b;
  b.jobs = std::move(jobs);
  b.worker = w.node.id;
  b.sent = now;
  b.items = count;
  b.item_timeout = std::max(item_timeout, std::chrono::milliseconds{0});
  b.queued = queued;
  b.probed = now;
  st.batches.emplace(id, std::move(b));
  // No deadline on the request itself: the dispatcher's tick knows when the batch started
  // running, which the request's timer would not.
  self->request(w.runner, caf::infinite, std::move(msg))
      .then([self, id](pool::ResultBatch& result) { on_result(self, id, result); },
            [self, id](caf::error& err) { on_batch_error(self, id, err); });
  start_ticking(self);
}

}  // namespace

void dispatch(dispatcher_actor* self) {
  auto& st = self->state;
  while (!st.queue.empty()) {
    auto first = st.queue.front();
    if (first->phase.load() == job::cancelled) {
      st.queue.pop_front();
      continue;
    }
    auto* w = pick_worker(self, *first);
    if (!w)
      return;
    st.queue.pop_front();
    if (!first->claim())  // cancelled just now
      continue;
    std::vector<job_ptr> jobs{first};
    if (first->mergeable && st.costs.measured(first->task)) {
      // Merge queued submissions of the same task (and timeout) into this batch; only once
      // the task is measured: merged calls run one after another.
      auto limit = pool_plan::merge_limit(st.costs, first->task);
      uint32_t items = first->count;
      size_t bytes = first->args.size();
      while (!st.queue.empty()) {
        auto& next = st.queue.front();
        if (!next->mergeable || next->task != first->task || next->timeout != first->timeout
            || items + next->count > limit
            || bytes + next->args.size() > pool_plan::merge_max_bytes)
          break;
        if (!next->claim()) {
          st.queue.pop_front();
          continue;
        }
        items += next->count;
        bytes += next->args.size();
        jobs.push_back(std::move(next));
        st.queue.pop_front();
      }
    }
    send_batch(self, *w, std::move(jobs));
  }
}

namespace {

// -- workers come and go --------------------------------------------------------------------------

void add_worker(dispatcher_actor* self, const peer& p) {
  self->request(p.connection, std::chrono::seconds{30}, spawn_atom::value,
                std::string{task_runner_type}, caf::message{})
      .then(
          [self, p](caf::actor& runner) {
            auto& st = self->state;
            if (st.terminated || (st.closing && !has_work(st)))
              return;
            auto& slot = st.workers[p.id];
            slot.node = p;
            slot.runner = runner;
            log::get().debug("pool: worker {} ready ({} in total)", p.name, st.workers.size());
            dispatch(self);
            notify_waiters(self);
          },
          [p](caf::error& err) {
            log::get().warn("pool: cannot use {} as a worker: {}", p.name, describe(err));
          });
}

bool wants_workers(const dispatcher_state& st) {
  // A closing pool still needs workers while work is pending (a joined worker may arrive
  // after close, a killed one must be replaced).
  return !st.terminated && (!st.closing || has_work(st));
}

// Worker processes start a few at a time. A start is CPU-bound (exec, loading the libraries,
// the actor system): 32 begun at once share the cores and all finish late together, so the
// first result waited for the last worker's start. A couple per core keep the cores busy while
// the first workers are ready within one start's time; the total time to start them all stays
// the same.
size_t start_concurrency() {
  // Once: glibc reads the online CPUs from /sys for every call.
  static const size_t most = std::max(2u, 2 * std::thread::hardware_concurrency());
  return most;
}

void request_worker_start(dispatcher_actor* self, bool replacement);

void start_queued_workers(dispatcher_actor* self) {
  auto& st = self->state;
  if (st.gave_up || !wants_workers(st)) {
    st.start_queue.clear();  // a start nobody needs any more is never begun
    return;
  }
  while (!st.start_queue.empty() && st.starting < start_concurrency()) {
    auto replacement = st.start_queue.front();
    st.start_queue.pop_front();
    request_worker_start(self, replacement);
  }
}

void start_worker(dispatcher_actor* self, bool replacement) {
  auto& st = self->state;
  if (st.gave_up || st.terminated)
    return;
  st.start_queue.push_back(replacement);
  start_queued_workers(self);
}

void request_worker_start(dispatcher_actor* self, bool replacement) {
  auto& st = self->state;
  ++st.starting;
  self->request(st.manager, std::chrono::seconds{30}, start_worker_atom::value)
      .then(
          [self, replacement](peer& p) {
            auto& st = self->state;
            --st.starting;
            st.start_failures = 0;
            if (st.terminated) {
              stop_child(self, p.id, std::chrono::milliseconds{0});
              return;
            }
            st.own_children.emplace(p.id, p);
            if (replacement)
              ++st.stats.respawned;
            add_worker(self, p);
            start_queued_workers(self);
            notify_waiters(self);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            --st.starting;
            // Only failures of the start-up itself count; a worker killed from outside while it
            // started is simply started again.
            if (!is(err, errc::worker_lost))
              ++st.start_failures;
            log::get().error("pool: cannot start a worker process: {}", describe(err));
            if (st.start_failures >= st.opts.max_start_failures) {
              // Retrying would only fail again: say why, once, to everyone waiting.
              st.gave_up = make_error(
                  errc::worker_start_failed,
                  std::to_string(st.start_failures)
                      + " worker processes in a row failed to start; the last: " + describe(err));
              if (st.workers.empty() && st.starting == 0)
                fail_all(self, st.gave_up);
            } else {
              self->delayed_send(self, std::chrono::milliseconds{200 << st.start_failures},
                                 respawn_atom::value);
            }
            start_queued_workers(self);
            notify_waiters(self);
          });
}

}  // namespace

// A worker is gone: everything in flight there runs again. Unless the worker is known not to
// be at fault (blameless), its tasks become suspects that go first and alone, so that a task
// that keeps killing its worker is identified and stopped.
void worker_lost(dispatcher_actor* self, uint64_t id, const caf::error& reason, bool blameless) {
  auto& st = self->state;
  auto w = st.workers.find(id);
  if (w != st.workers.end()) {
    log::get().warn("pool: lost worker {} ({}); re-dispatching its tasks", w->second.node.name,
                    describe(reason));
    st.workers.erase(w);
    ++st.stats.worker_deaths;
  }
  // Also when the slot is gone already: no batch may stay recorded for a dead worker.
  std::vector<job_ptr> again;
  for (auto i = st.batches.begin(); i != st.batches.end();) {
    if (i->second.worker != id) {
      ++i;
      continue;
    }
    for (auto& j : i->second.jobs) {
      if (blameless) {
        again.push_back(j);
        continue;
      }
      if (!j->last_failure)
        j->last_failure = reason;
      ++j->kills;
      if (j->kills >= st.opts.max_kills) {
        fail(self, j,
             make_error(errc::worker_lost,
                        job_name(*j) + " lost " + std::to_string(j->kills)
                            + " workers that were running it (died, dropped, or failed it); giving "
                              "up. Last: "
                            + describe(j->last_failure ? j->last_failure : reason)));
      } else {
        j->suspect = true;
        j->mergeable = false;
        st.stats.redispatched += j->count;
        again.push_back(j);
      }
    }
    i = st.batches.erase(i);
  }
  requeue_front(self, std::move(again));
  dispatch(self);
  notify_waiters(self);
}

namespace {

void on_peer_down(dispatcher_actor* self, const peer_down& down) {
  auto& st = self->state;
  worker_lost(self, down.peer.id, down.reason);
  if (st.own_children.erase(down.peer.id) > 0 && st.opts.respawn && wants_workers(st))
    start_worker(self, true);
}

caf::behavior dispatcher(dispatcher_actor* self, caf::actor manager, pool_options opts,
                         size_t max_frame_size) {
  // Workers learn this actor's address (it sends them batches): whatever else they send it is
  // dropped, and said once in a while, not once per message.
  self->set_default_handler(
      [](caf::scheduled_actor*, caf::message_view& msg) -> caf::result<caf::message> {
        log::rejected("message to the process pool", msg.content().stringify());
        return caf::sec::unexpected_message;
      });
  auto& st = self->state;
  st.manager = std::move(manager);
  st.opts = opts;
  st.max_frame_size = max_frame_size;
  st.no_worker_since = clock::now();
  st.last_waiting_notice = clock::now();
  for (size_t i = 0; i < opts.workers; ++i)
    start_worker(self, false);
  self->send(st.manager, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  self->request(st.manager, std::chrono::seconds{10}, endpoints_atom::value)
      .then([self](std::vector<std::string>& endpoints) { self->state.endpoints = endpoints; },
            [](caf::error& err) {
              // Only the waiting notices name where to join: the pool works without them.
              log::get().warn("pool: cannot learn where this node listens: {}", describe(err));
            });
  return {
      [self](submit_atom, std::vector<job_ptr>& jobs) {
        auto& st = self->state;
        caf::error refused;
        if (st.closing)
          refused = make_error(errc::pool_closed, "the pool is closed");
        else if (st.gave_up && st.workers.empty())
          refused = st.gave_up;
        if (refused) {
          for (auto& j : jobs)
            fail(self, j, refused);
          return;
        }
        if (!has_work(st))
          st.no_worker_since = clock::now();
        for (auto& j : jobs) {
          // The size is known from encoding: arguments no frame can carry fail here, and no
          // worker is sent (or blamed for) what its link would refuse.
          if (st.max_frame_size > 0 && j->args.size() > max_value_size(st.max_frame_size))
            fail(self, j,
                 make_error(
                     errc::message_too_large,
                     job_name(*j) + ": "
                         + describe_too_large(j->args.size(), st.max_frame_size, "its arguments")));
          else
            st.queue.push_back(std::move(j));
        }
        dispatch(self);
        start_ticking(self);
      },
      [self](const peer_up& up) {
        auto& st = self->state;
        // Our own children arrive through start_worker; others are nodes that joined over TCP.
        if (up.peer.child || !st.opts.use_joined_workers || !wants_workers(st))
          return;
        if (st.fenced.count(up.peer.name) > 0) {
          log::get().warn("pool: not using {} again: it was dropped for misbehaving", up.peer.name);
          return;
        }
        if (st.workers.count(up.peer.id) == 0)
          add_worker(self, up.peer);
      },
      [self](const peer_down& down) { on_peer_down(self, down); },
      [self](respawn_atom) {
        if (wants_workers(self->state))
          start_worker(self, true);
      },
      [self](pool_tick_atom) { on_tick(self); },
      [self](wait_workers_atom, size_t n) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        self->state.worker_waiters.emplace_back(n, rp);
        notify_waiters(self);
        start_ticking(self);
        return rp;
      },
      [self](cancel_queued_atom) {
        auto& st = self->state;
        auto err = make_error(errc::cancelled, "cancelled by shutdown before it started");
        std::deque<job_ptr> kept;
        for (auto& j : st.queue) {
          if (j->cancel())
            fail(self, j, err);
          else if (j->phase.load() == job::sent)
            kept.push_back(j);  // started before, on a worker that died: it runs again
        }
        st.queue.swap(kept);
        notify_waiters(self);
      },
      [self](stop_accepting_atom) {
        self->state.closing = true;
        notify_waiters(self);
      },
      [self](drain_atom) -> caf::result<std::vector<peer>> {
        auto& st = self->state;
        st.closing = true;
        // Answered with the worker processes to stop once nothing is queued or in flight.
        auto rp = self->make_response_promise<std::vector<peer>>();
        st.drained_waiters.push_back(rp);
        notify_waiters(self);
        return rp;
      },
      [self](terminate_atom) {
        auto& st = self->state;
        st.closing = true;
        st.terminated = true;
        fail_all(self, make_error(errc::terminated, "the pool was terminated"));
        st.workers.clear();
        std::vector<peer> children;
        for (auto& kv : st.own_children)
          children.push_back(kv.second);
        notify_waiters(self);
        return children;
      },
      [self](stats_atom) {
        auto stats = self->state.stats;
        stats.workers = self->state.workers.size();
        return stats;
      },
      [self](observe_pool_atom) { return observe_pool(self); },
  };
}

}  // namespace

caf::actor spawn_dispatcher(caf::actor_system& sys, caf::actor manager, pool_options opts,
                            size_t max_frame_size) {
  auto dispatcher_actor = sys.spawn(dispatcher, std::move(manager), opts, max_frame_size);
  if (auto* obs = observe::observatory::active()) {
    auto id = obs->pool_started(dispatcher_actor);
    dispatcher_actor->attach_functor([obs, id] { obs->pool_ended(id); });
  }
  return dispatcher_actor;
}

}  // namespace troupe::detail
