// The dispatcher's tick (see dispatcher.hpp): while work is pending it looks at deadlines,
// silent runners, batches waiting behind a stuck one, and work that has no worker at all.
#include <algorithm>

#include "troupe/messages/errc.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/pool/dispatcher.hpp"
#include "troupe/nodes/pool/dispatcher_state.hpp"

namespace troupe::detail {

namespace {

constexpr auto tick_interval = std::chrono::milliseconds{100};
// How often a pool that waits for workers says so.
constexpr auto waiting_notice_interval = std::chrono::seconds{5};

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
    auto deadline = pool_plan::deadline(b->second.item_timeout, b->second.items, w.front_since);
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
  size_t idle = 0;
  std::vector<pool_plan::busy_worker> busy;
  for (auto& [id, w] : st.workers) {
    if (w.in_flight == 0)
      ++idle;
    if (w.order.size() < 2)
      continue;
    auto front = st.batches.find(w.order.front());
    auto last = st.batches.find(w.order.back());
    if (front == st.batches.end() || last == st.batches.end())
      continue;
    busy.push_back({.id = id,
                    .running_task = front->second.jobs.front()->task,
                    .running_items = front->second.items,
                    .running_since = w.front_since,
                    .batches = w.order.size(),
                    .last_revoking = last->second.revoking});
  }
  for (auto id : pool_plan::revocations(st.costs, busy, idle, st.queue.size(), now)) {
    auto& w = st.workers.at(id);
    st.batches.at(w.order.back()).revoking = true;
    pool::RevokeBatch revoke;
    revoke.set_batch_id(w.order.back());
    self->send(w.runner, std::move(revoke));
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

}  // namespace

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
  self->delayed_send(self, tick_interval, pool_tick_atom::value);
}

}  // namespace troupe::detail
