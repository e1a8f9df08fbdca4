#include "troupe/nodes/process_pool.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <set>
#include <thread>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/messages/config.hpp"
#include "troupe/messages/pool.pb.h"
#include "troupe/nodes/callback_thread.hpp"
#include "troupe/nodes/connection.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/node_protocol.hpp"
#include "troupe/nodes/task_runner.hpp"

namespace troupe {
namespace {

using detail::job_ptr;
using clock = std::chrono::steady_clock;
using join_atom = caf::atom_constant<caf::atom("join")>;
using close_atom = caf::atom_constant<caf::atom("poolclose")>;
using wait_atom = caf::atom_constant<caf::atom("waitwork")>;
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
using tick_atom = caf::atom_constant<caf::atom("pooltick")>;
using terminate_atom = caf::atom_constant<caf::atom("terminate")>;

// Merging queued submissions of one task into one batch stops at about this much work, so
// that a merged batch never holds up other workers for long.
constexpr double merge_target_ns = 2'000'000;
constexpr uint32_t merge_max_items = 512;
constexpr size_t merge_max_bytes = 1024 * 1024;
constexpr size_t max_window = 32;

// While work is pending the dispatcher looks at its deadlines and stuck workers this often.
constexpr auto tick_interval = std::chrono::milliseconds{100};
// How often a pool that waits for workers says so.
constexpr auto waiting_notice_interval = std::chrono::seconds{5};

struct worker_slot {
  peer node;
  caf::actor runner;
  size_t in_flight = 0;
  bool exclusive = false;  // runs a suspect batch: nothing else until it returns
  // Batches in the order they were sent: the runner runs them in this order, so the front is
  // the one running. front_since: when it started, as far as the head can tell.
  std::deque<uint64_t> order;
  clock::time_point front_since;
};

struct batch {
  std::vector<job_ptr> jobs;
  uint64_t worker = 0;
  clock::time_point sent;
  uint32_t items = 0;
  std::chrono::milliseconds item_timeout{0};  // 0: none
  bool queued = false;       // sent while its worker was busy: its wait says nothing of the wire
  bool revoking = false;     // asked back from its worker, to run on an idle one
  clock::time_point probed;  // when its worker last confirmed it has it (or it started)
  bool probing = false;
};

struct dispatcher_state {
  pool_options opts;
  caf::actor manager;
  std::deque<job_ptr> queue;
  std::map<uint64_t, worker_slot> workers;  // ready workers by peer id
  std::map<uint64_t, peer> own_children;    // worker processes this pool started
  std::set<std::string> fenced;             // names of workers dropped for misbehaving
  std::vector<std::string> endpoints;       // where worker nodes can join, for messages
  size_t starting = 0;                      // worker processes being started
  unsigned start_failures = 0;              // in a row
  caf::error gave_up;                       // set once start-up failures exhausted the pool
  std::unordered_map<uint64_t, batch> batches;
  uint64_t next_batch = 1;
  // Measured costs (exponentially weighted): execution time of one item, per task (a map of
  // tiny tasks must not make the next task look tiny), and the round trip around a batch.
  // They size each worker's window of batches in flight and how much merging pays.
  std::unordered_map<std::string, double> item_ns;
  double overhead_ns = 200'000;
  bool closing = false;
  bool terminated = false;
  bool ticking = false;
  clock::time_point no_worker_since;  // work pending without any worker since then
  clock::time_point last_waiting_notice;
  std::vector<caf::response_promise> drained_waiters;
  std::vector<std::pair<size_t, caf::response_promise>> worker_waiters;
  pool_stats stats;
  static inline const char* name = "troupe.process_pool";
};

using dispatcher_actor = caf::stateful_actor<dispatcher_state>;

// Until measured, a task is assumed slow: small windows and little merging keep the balance.
constexpr double unmeasured_item_ns = 200'000;

double item_cost(const dispatcher_state& st, const std::string& task) {
  auto i = st.item_ns.find(task);
  return i == st.item_ns.end() ? unmeasured_item_ns : i->second;
}

bool has_work(const dispatcher_state& st) {
  return !st.queue.empty() || !st.batches.empty();
}

std::string item_range(const detail::job& j) {
  return std::to_string(j.first_index)
         + (j.count > 1 ? "-" + std::to_string(j.first_index + j.count - 1) : std::string{});
}

size_t window(const dispatcher_state& st, const std::string& task) {
  // Enough batches in flight to cover a round trip. For a task that dwarfs the round trip, one
  // batch queued behind the running one still saves an idle round trip per task (measured: 3%
  // of a mandelbrot render on one worker), which adds up while many tasks wait; near the end
  // of the queue none is queued, so that no worker still holds a waiting batch when another
  // runs dry (a balanced tail).
  double batch_ns = std::max(item_cost(st, task), 1.0);
  if (batch_ns >= 20 * st.overhead_ns)
    return st.queue.size() > 2 * st.workers.size() ? 2 : 1;
  auto n = static_cast<size_t>(std::ceil(st.overhead_ns / batch_ns)) + 1;
  return std::clamp<size_t>(n, 2, max_window);
}

void finish(dispatcher_actor* self, const job_ptr& j, detail::job_result&& r) {
  self->state.stats.tasks_completed += j->count;
  auto done = std::move(j->done);
  j->done = nullptr;
  if (done)
    done(std::move(r));
}

void fail(dispatcher_actor*, const job_ptr& j, caf::error err) {
  detail::job_result r;
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
  st.queue.erase(
      std::remove_if(st.queue.begin(), st.queue.end(),
                     [](const job_ptr& j) { return j->phase.load() == detail::job::cancelled; }),
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
  if (st.closing && !has_work(st) && st.starting == 0) {
    std::vector<peer> children;
    for (auto& kv : st.own_children)
      children.push_back(kv.second);
    for (auto& rp : st.drained_waiters)
      rp.deliver(children);
    st.drained_waiters.clear();
  }
}

void dispatch(dispatcher_actor* self);
void start_ticking(dispatcher_actor* self);
void worker_lost(dispatcher_actor* self, uint64_t id, const caf::error& reason,
                 bool blameless = false);

// Asks the node to stop one of our worker processes (a Goodbye, then SIGKILL after `grace`).
void stop_child(dispatcher_actor* self, uint64_t id, std::chrono::milliseconds grace) {
  self->request(self->state.manager, std::chrono::seconds{10}, detail::stop_atom::value, id,
                std::chrono::duration_cast<caf::timespan>(grace))
      .then([](int) {}, [](caf::error&) {});
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
    self->send(node.connection, detail::close_atom::value);
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

void on_result(dispatcher_actor* self, uint64_t id, pool::ResultBatch& result) {
  auto& st = self->state;
  auto i = st.batches.find(id);
  if (i == st.batches.end()) {
    ++st.stats.late_results_discarded;  // its worker was declared dead; the batch ran again
    return;
  }
  auto worker = i->second.worker;
  auto b = take_batch(self, i);
  auto w = st.workers.find(worker);
  auto total = b.items;
  if (result.batch_id() != id) {
    requeue_front(self, std::move(b.jobs));
    fence(self, worker, make_error(errc::protocol_error, "a result for another batch"), false);
    return;
  }
  if (result.timed_out_item() > 0) {
    // The worker's watchdog caught an item overrunning its timeout. That item fails; the rest
    // of the batch runs elsewhere; the worker, stuck in the task, is replaced.
    auto index = result.timed_out_item() - 1;
    if (index >= total || b.item_timeout.count() == 0) {
      requeue_front(self, std::move(b.jobs));
      fence(self, worker, make_error(errc::protocol_error, "a timeout report that does not fit"),
            false);
      return;
    }
    std::vector<job_ptr> again;
    uint32_t offset = 0;
    for (auto& j : b.jobs) {
      if (index >= offset && index < offset + j->count) {
        ++st.stats.timeouts;
        bool own = st.own_children.count(worker) > 0;
        fail(self, j,
             make_error(
                 errc::task_timeout,
                 "task '" + j->task + "' (item " + std::to_string(j->first_index + index - offset)
                     + ") ran longer than its timeout of " + std::to_string(b.item_timeout.count())
                     + " ms; its worker "
                     + (own ? "process was stopped and replaced" : "node was disconnected")));
      } else {
        again.push_back(j);
      }
      offset += j->count;
    }
    requeue_front(self, std::move(again));
    fence(self, worker, make_error(errc::task_timeout, "a task ran past its timeout"), true);
    return;
  }
  // Everything from a worker is checked before it is used: a malformed reply is that worker's
  // failure, and its work runs elsewhere.
  std::vector<std::string_view> records;  // whole records, to pass on
  std::vector<std::string_view> values;   // their contents, to check
  records.reserve(total);
  values.reserve(total);
  bool ok =
      items::read_records(result.results(), [&](std::string_view value, std::string_view record) {
        records.push_back(record);
        values.push_back(value);
        return records.size() <= total;
      });
  for (auto& f : result.failures())
    ok = ok && f.index() < total;
  if (ok && records.size() == total) {
    // Each record must parse as its task's result (a failed item's record is empty).
    size_t at = 0;
    std::vector<bool> failed(total, false);
    for (auto& f : result.failures())
      failed[f.index()] = true;
    for (auto& j : b.jobs)
      for (uint32_t k = 0; k < j->count && ok; ++k, ++at)
        ok = failed[at] || !j->check || j->check(values[at]);
  }
  if (!ok || records.size() != total) {
    requeue_front(self, std::move(b.jobs));
    fence(self, worker, make_error(errc::corrupt_payload, "malformed results"), false);
    return;
  }
  if (w != st.workers.end())
    st.stats.items_per_worker[w->second.node.name] += total;
  // Learn the costs: per-item execution time, and what the round trip adds. The worker's own
  // figure is believed only up to what the head saw.
  auto elapsed = static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - b.sent).count());
  auto exec = std::min(static_cast<double>(result.elapsed_ns()), elapsed);
  auto per_item = exec / std::max<uint32_t>(total, 1);
  auto [cost, fresh] = st.item_ns.try_emplace(b.jobs.front()->task, per_item);
  if (!fresh)
    cost->second = 0.8 * cost->second + 0.2 * per_item;
  if (!b.queued)
    st.overhead_ns = 0.8 * st.overhead_ns + 0.2 * std::max(elapsed - exec, 0.0);
  // Split the merged results back into the submissions they came from: each submission's
  // records are a contiguous run of the reply.
  size_t offset = 0;
  for (auto& j : b.jobs) {
    detail::job_result r;
    if (j->count > 0) {
      const auto& last = records[offset + j->count - 1];
      r.results.assign(records[offset].data(), last.data() + last.size());
    }
    for (auto& f : result.failures())
      if (f.index() >= offset && f.index() < offset + j->count)
        r.failures.push_back({static_cast<uint32_t>(f.index() - offset), f.message()});
    offset += j->count;
    finish(self, j, std::move(r));
  }
  dispatch(self);
  notify_waiters(self);
}

void on_batch_error(dispatcher_actor* self, uint64_t id, const caf::error& err) {
  auto& st = self->state;
  auto i = st.batches.find(id);
  if (i == st.batches.end())
    return;  // already re-dispatched when its worker went down
  if (is(err, errc::revoked) && i->second.revoking) {
    // Handed back unstarted, as asked: it runs on whichever worker is free first.
    ++st.stats.revoked;
    auto b = take_batch(self, i);
    requeue_front(self, std::move(b.jobs));
    dispatch(self);
    notify_waiters(self);
    return;
  }
  // Any other error is the worker's failure, not the task's (a task that raises is a result
  // with failures): its link closing, its runner gone, a task it does not know, or a reply it
  // made up. The worker is dropped and the batch runs elsewhere; a batch that fails this way
  // on max_kills workers fails with the last reason.
  auto worker = i->second.worker;
  for (auto& j : i->second.jobs)
    j->last_failure = err;
  if (st.workers.count(worker) > 0)
    fence(self, worker, err, false);
  else
    worker_lost(self, worker, err);
}

worker_slot* pick_worker(dispatcher_actor* self, const detail::job& next) {
  auto& st = self->state;
  worker_slot* best = nullptr;
  bool alone = next.suspect;
  auto limit = window(st, next.task);
  for (auto& kv : st.workers) {
    auto& w = kv.second;
    if (w.exclusive || (alone ? w.in_flight > 0 : w.in_flight >= limit))
      continue;
    if (!best || w.in_flight < best->in_flight)
      best = &w;
  }
  return best;
}

std::chrono::milliseconds timeout_of(const dispatcher_state& st, const detail::job& j) {
  auto t = j.timeout.count() >= 0 ? j.timeout : st.opts.task_timeout;
  return detail::is_unbounded(t) ? std::chrono::milliseconds{0} : t;
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

void dispatch(dispatcher_actor* self) {
  auto& st = self->state;
  while (!st.queue.empty()) {
    auto first = st.queue.front();
    if (first->phase.load() == detail::job::cancelled) {
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
    if (first->mergeable && st.item_ns.count(first->task) > 0) {
      // Merge queued submissions of the same task (and timeout) into this batch; only once
      // the task is measured: merged calls run one after another.
      auto limit = static_cast<uint32_t>(
          std::clamp(merge_target_ns / std::max(item_cost(st, first->task), 1.0), 1.0,
                     double{merge_max_items}));
      uint32_t items = first->count;
      size_t bytes = first->args.size();
      while (!st.queue.empty()) {
        auto& next = st.queue.front();
        if (!next->mergeable || next->task != first->task || next->timeout != first->timeout
            || items + next->count > limit || bytes + next->args.size() > merge_max_bytes)
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

// -- the tick: deadlines, stuck workers, waiting for workers --------------------------------------

// When a batch that started at `since` should have come back at the latest: an honest worker
// reports a timed-out item itself after item_timeout; this is for workers that say nothing.
std::optional<clock::time_point> deadline_of(const batch& b, clock::time_point since) {
  if (b.item_timeout.count() <= 0)
    return std::nullopt;
  // In seconds as a double: items x a long timeout must not overflow the clock.
  auto seconds = std::chrono::duration<double>(b.item_timeout).count() * b.items + 1.0;
  if (seconds >= std::chrono::duration<double>(detail::unbounded_wait).count())
    return std::nullopt;
  return since
         + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
}

void check_deadlines(dispatcher_actor* self, clock::time_point now) {
  auto& st = self->state;
  std::vector<std::pair<uint64_t, std::string>> silent;
  for (auto& kv : st.workers) {
    auto& w = kv.second;
    if (w.order.empty())
      continue;
    auto b = st.batches.find(w.order.front());
    if (b == st.batches.end())
      continue;
    auto deadline = deadline_of(b->second, w.front_since);
    if (deadline && now > *deadline)
      silent.emplace_back(kv.first, b->second.jobs.front()->task);
  }
  for (auto& [id, task] : silent)
    fence(self, id,
          make_error(errc::worker_lost,
                     "no answer for a batch of '" + task + "' long past its deadline"),
          false);
}

// A worker may keep heartbeating while its runner takes batches and never answers: a batch
// running for a probe interval is asked after; a runner that does not answer within another
// interval, or says it has no such batch, loses its worker.
void probe_running_batches(dispatcher_actor* self, clock::time_point now) {
  auto& st = self->state;
  auto interval = st.opts.probe_interval;
  if (interval.count() <= 0)
    return;
  for (auto& kv : st.workers) {
    auto& w = kv.second;
    if (w.order.empty())
      continue;
    auto id = w.order.front();
    auto b = st.batches.find(id);
    if (b == st.batches.end() || b->second.probing
        || now - std::max(b->second.probed, w.front_since) < interval)
      continue;
    b->second.probing = true;
    pool::BatchProbe probe;
    probe.set_batch_id(id);
    auto worker = kv.first;
    self->request(w.runner, interval, std::move(probe))
        .then(
            [self, id, worker](const pool::BatchProbe& answer) {
              auto& st = self->state;
              auto b = st.batches.find(id);
              if (b == st.batches.end())
                return;
              b->second.probing = false;
              b->second.probed = clock::now();
              if (!answer.held() || answer.batch_id() != id)
                fence(
                    self, worker,
                    make_error(errc::worker_lost, "its runner no longer has a batch it was given"),
                    false);
            },
            [self, id, worker](const caf::error& err) {
              auto& st = self->state;
              auto b = st.batches.find(id);
              if (b == st.batches.end())
                return;
              fence(self, worker,
                    make_error(errc::worker_lost,
                               "its runner did not answer a probe (" + describe(err) + ")"),
                    false);
            });
  }
}

// An idle worker takes a batch still waiting on a busy one (the last sent there), once the
// busy one's current batch runs clearly longer than expected: one stuck task then holds up
// nothing but itself.
void revoke_waiting_batches(dispatcher_actor* self, clock::time_point now) {
  auto& st = self->state;
  if (!st.queue.empty())
    return;
  size_t idle = 0;
  for (auto& kv : st.workers)
    if (kv.second.in_flight == 0)
      ++idle;
  for (auto& kv : st.workers) {
    if (idle == 0)
      return;
    auto& w = kv.second;
    if (w.order.size() < 2)
      continue;
    auto front = st.batches.find(w.order.front());
    if (front == st.batches.end())
      continue;
    auto expected = std::chrono::nanoseconds{static_cast<int64_t>(
        2 * item_cost(st, front->second.jobs.front()->task) * front->second.items
        + 4 * st.overhead_ns)};
    if (now - w.front_since < expected)
      continue;
    auto last = st.batches.find(w.order.back());
    if (last == st.batches.end() || last->second.revoking)
      continue;
    last->second.revoking = true;
    pool::RevokeBatch revoke;
    revoke.set_batch_id(w.order.back());
    self->send(w.runner, std::move(revoke));
    --idle;
  }
}

void report_waiting(dispatcher_actor* self, clock::time_point now) {
  auto& st = self->state;
  size_t wanted = 0;
  for (auto& w : st.worker_waiters)
    wanted = std::max(wanted, w.first);
  bool starved = has_work(st) && st.workers.empty();
  if (now - st.last_waiting_notice < waiting_notice_interval)
    return;
  if (!st.drained_waiters.empty() && !starved) {
    // Someone waits in join(): say what it waits for.
    st.last_waiting_notice = now;
    log::get().info("pool: join waits for {} queued and {} running batches", st.queue.size(),
                    st.batches.size());
    return;
  }
  if (!starved && st.workers.size() >= wanted)
    return;
  st.last_waiting_notice = now;
  std::string where;
  for (auto& e : st.endpoints)
    where += (where.empty() ? "" : " or ") + ("--join " + e);
  log::get().warn("pool: waiting for workers: {} ready{}, {} starting, {} tasks queued{}",
                  st.workers.size(), wanted > 0 ? " of " + std::to_string(wanted) : "", st.starting,
                  st.queue.size(),
                  where.empty() ? std::string{"; this node does not listen for worker nodes"}
                                : "; start worker nodes with " + where);
}

// Work with no worker at all, for too long, fails: nothing would ever run it.
void check_starvation(dispatcher_actor* self, clock::time_point now) {
  auto& st = self->state;
  if (!st.workers.empty() || st.starting > 0 || !has_work(st)) {
    st.no_worker_since = now;
    return;
  }
  if (st.opts.worker_wait.count() == 0 || now - st.no_worker_since < st.opts.worker_wait)
    return;
  auto waiting = st.queue.size() + st.batches.size();
  fail_all(self,
           make_error(errc::worker_lost, "no worker was available for "
                                             + std::to_string(st.opts.worker_wait.count()) + " ms; "
                                             + std::to_string(waiting) + " submissions failed"));
  notify_waiters(self);
}

void on_tick(dispatcher_actor* self) {
  auto& st = self->state;
  st.ticking = false;
  auto now = clock::now();
  check_deadlines(self, now);
  probe_running_batches(self, now);
  revoke_waiting_batches(self, now);
  report_waiting(self, now);
  check_starvation(self, now);
  start_ticking(self);
}

void start_ticking(dispatcher_actor* self) {
  auto& st = self->state;
  if (st.ticking || st.terminated)
    return;
  if (!has_work(st) && st.worker_waiters.empty())
    return;  // an idle pool costs nothing
  st.ticking = true;
  self->delayed_send(self, tick_interval, tick_atom::value);
}

// -- workers come and go --------------------------------------------------------------------------

void add_worker(dispatcher_actor* self, const peer& p) {
  self->request(p.connection, std::chrono::seconds{30}, detail::spawn_atom::value,
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

void start_worker(dispatcher_actor* self, bool replacement) {
  auto& st = self->state;
  if (st.gave_up || st.terminated)
    return;
  ++st.starting;
  self->request(st.manager, std::chrono::seconds{30}, detail::start_worker_atom::value)
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
            notify_waiters(self);
          });
}

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
                        "task '" + j->task + "' (item " + item_range(*j) + ") lost "
                            + std::to_string(j->kills)
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

bool wants_workers(const dispatcher_state& st) {
  // A closing pool still needs workers while work is pending (a joined worker may arrive
  // after close, a killed one must be replaced).
  return !st.terminated && (!st.closing || has_work(st));
}

void on_peer_down(dispatcher_actor* self, const peer_down& down) {
  auto& st = self->state;
  worker_lost(self, down.peer.id, down.reason);
  if (st.own_children.erase(down.peer.id) > 0 && st.opts.respawn && wants_workers(st))
    start_worker(self, true);
}

caf::behavior dispatcher(dispatcher_actor* self, caf::actor manager, pool_options opts) {
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
  st.no_worker_since = clock::now();
  st.last_waiting_notice = clock::now();
  for (size_t i = 0; i < opts.workers; ++i)
    start_worker(self, false);
  self->send(st.manager, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  self->request(st.manager, std::chrono::seconds{10}, detail::endpoints_atom::value)
      .then([self](std::vector<std::string>& endpoints) { self->state.endpoints = endpoints; },
            [](caf::error&) {});
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
        for (auto& j : jobs)
          st.queue.push_back(std::move(j));
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
      [self](tick_atom) { on_tick(self); },
      [self](wait_atom, size_t n) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        self->state.worker_waiters.emplace_back(n, rp);
        notify_waiters(self);
        start_ticking(self);
        return rp;
      },
      [self](close_atom) {
        self->state.closing = true;
        notify_waiters(self);
      },
      [self](join_atom) -> caf::result<std::vector<peer>> {
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
  };
}

}  // namespace
}  // namespace troupe

namespace troupe {

size_t pool_options::default_workers() {
  return std::max(1u, std::thread::hardware_concurrency());
}

process_pool::process_pool(node& n, pool_options opts) : node_(n), opts_(opts) {
  if (opts_.workers == 0 && (!opts_.use_joined_workers || n.endpoints().empty()))
    throw std::invalid_argument(
        "a process pool with no worker processes (workers = 0) needs worker nodes, but this node "
        "does not listen for them: start worker processes (--workers N) or listen for worker "
        "nodes (--listen ADDR:PORT, then run the program with --join ADDR:PORT)");
  callbacks_ = detail::callback_thread::start();
  dispatcher_ = n.system().spawn(dispatcher, n.manager(), opts_);
}

process_pool::~process_pool() {
  if (!joined_)
    join();
  callbacks_->stop();
}

detail::callback_executor process_pool::callback_executor() const {
  return callbacks_->executor();
}

bool process_pool::wait_for_workers(size_t n, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{node_.system()};
  bool ready = false;
  self->request(dispatcher_, timeout, wait_atom::value, n)
      .receive([&](bool) { ready = true; },
               [](caf::error& err) {
                 if (err != caf::sec::request_timeout)
                   throw task_error{err};
               });
  return ready;
}

void process_pool::submit(std::vector<detail::job_ptr> jobs) {
  if (joined_) {
    for (auto& j : jobs)
      if (auto done = std::move(j->done))
        done(detail::job_result{{}, {}, make_error(errc::pool_closed, "the pool is closed")});
    return;
  }
  caf::anon_send(dispatcher_, submit_atom::value, std::move(jobs));
}

// The last statistics, kept for stats() once the dispatcher is gone.
void process_pool::keep_final_stats() {
  final_stats_ = stats();
  final_stats_.workers = 0;
}

void process_pool::close() {
  caf::anon_send(dispatcher_, close_atom::value);
}

void process_pool::join() {
  join_within(std::nullopt);
}

bool process_pool::join(std::chrono::milliseconds timeout) {
  return join_within(timeout);
}

bool process_pool::join_within(std::optional<std::chrono::milliseconds> timeout) {
  if (joined_)
    return true;
  caf::scoped_actor self{node_.system()};
  std::optional<std::vector<peer>> children;
  if (timeout && detail::is_unbounded(*timeout))
    timeout.reset();
  auto request = timeout ? self->request(dispatcher_, *timeout, join_atom::value)
                         : self->request(dispatcher_, caf::infinite, join_atom::value);
  std::move(request).receive([&](std::vector<peer>& ps) { children = std::move(ps); },
                             [](caf::error& err) {
                               if (err != caf::sec::request_timeout)
                                 log::get().error("pool: join failed: {}", describe(err));
                             });
  if (!children)
    return false;
  keep_final_stats();
  joined_ = true;
  caf::anon_send_exit(dispatcher_, caf::exit_reason::user_shutdown);
  // Stop our worker processes: each says goodbye and exits 0.
  stop_children(*children, std::chrono::seconds{5});
  return true;
}

void process_pool::terminate() {
  if (joined_)
    return;
  caf::scoped_actor self{node_.system()};
  std::vector<peer> children;
  self->request(dispatcher_, std::chrono::seconds{10}, terminate_atom::value)
      .receive([&](std::vector<peer>& ps) { children = std::move(ps); },
               [](caf::error& err) { log::get().error("pool: terminate: {}", describe(err)); });
  keep_final_stats();
  joined_ = true;
  caf::anon_send_exit(dispatcher_, caf::exit_reason::user_shutdown);
  stop_children(children, std::chrono::milliseconds{0});
}

// Asks all of them at once (each exits in parallel), then collects every answer, bounded.
void process_pool::stop_children(const std::vector<peer>& children,
                                 std::chrono::milliseconds grace) {
  caf::scoped_actor self{node_.system()};
  auto bound = grace + std::chrono::seconds{5};
  for (auto& p : children)
    self->send(node_.manager(), detail::stop_atom::value, p.id,
               std::chrono::duration_cast<caf::timespan>(grace));
  for (size_t i = 0; i < children.size(); ++i) {
    bool more = true;
    self->receive(
        [](int) {},
        [](caf::error& err) { log::get().warn("pool: stopping a worker: {}", describe(err)); },
        caf::after(bound) >>
            [&] {
              log::get().warn("pool: worker processes did not stop within {} ms", bound.count());
              more = false;
            });
    if (!more)
      break;
  }
}

pool_stats process_pool::stats() const {
  if (joined_)
    return final_stats_;
  caf::scoped_actor self{node_.system()};
  pool_stats result;
  self->request(dispatcher_, std::chrono::seconds{10}, stats_atom::value)
      .receive([&](pool_stats& s) { result = std::move(s); },
               [](caf::error& err) { log::get().warn("pool: stats: {}", describe(err)); });
  return result;
}

std::string process_pool::task_name(const void* function) const {
  const auto* cfg = dynamic_cast<const config*>(&node_.system().config());
  const auto* entry = cfg ? cfg->tasks().find_function(function) : nullptr;
  if (!entry)
    throw std::invalid_argument(
        "this function is not a registered task: add it with "
        "cfg.tasks().add(name, function) in the program's setup");
  return entry->name;
}

void process_pool::check_types_impl(const std::string& task, const std::type_info& arg,
                                    const std::type_info& result) const {
  const auto* cfg = dynamic_cast<const config*>(&node_.system().config());
  const auto* entry = cfg ? cfg->tasks().find(task) : nullptr;
  if (!entry)
    throw std::invalid_argument("no task named '" + task + "' is registered");
  if (entry->argument != std::type_index{arg} || entry->result != std::type_index{result})
    throw std::invalid_argument("task '" + task + "' is called with other argument or result "
                                "types than it was registered with");
}

size_t process_pool::auto_chunksize(size_t items) const {
  // Python's rule: about four chunks per worker.
  auto workers = std::max<size_t>(1, opts_.workers);
  auto chunks = workers * 4;
  return std::max<size_t>(1, (items + chunks - 1) / chunks);
}

}  // namespace troupe
