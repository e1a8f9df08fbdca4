// The dispatcher's handling of what workers answer to batches (see dispatcher.hpp).
#include "troupe/messages/errc.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/pool/dispatcher_state.hpp"
#include "troupe/nodes/pool/reply.hpp"

namespace troupe::detail {

namespace {

// The worker's watchdog caught item `index` overrunning its timeout. That item fails; the rest
// of the batch runs elsewhere; the worker, stuck in the task, is replaced.
void on_timed_out_item(dispatcher_actor* self, uint64_t worker, batch& b, uint32_t index) {
  auto& st = self->state;
  if (index >= b.items || b.item_timeout.count() == 0) {
    requeue_front(self, std::move(b.jobs));
    fence(self, worker, make_error(errc::protocol_error, "a timeout report that does not fit"),
          false);
    return;
  }
  auto [at, item] = locate_item(b.jobs, index);
  std::vector<job_ptr> again;
  for (size_t k = 0; k < b.jobs.size(); ++k) {
    auto& j = b.jobs[k];
    if (k != at) {
      again.push_back(j);
      continue;
    }
    ++st.stats.timeouts;
    bool own = st.own_children.count(worker) > 0;
    fail(self, j,
         make_error(errc::task_timeout,
                    "task '" + j->task + "' (item " + std::to_string(j->first_index + item)
                        + ") ran longer than its timeout of "
                        + std::to_string(b.item_timeout.count()) + " ms; its worker "
                        + (own ? "process was stopped and replaced" : "node was disconnected")));
  }
  requeue_front(self, std::move(again));
  fence(self, worker, make_error(errc::task_timeout, "a task ran past its timeout"), true);
}

}  // namespace

void on_result(dispatcher_actor* self, uint64_t id, pool::ResultBatch& result) {
  auto& st = self->state;
  auto i = st.batches.find(id);
  if (i == st.batches.end()) {
    ++st.stats.late_results_discarded;  // its worker was declared dead; the batch ran again
    return;
  }
  auto worker = i->second.worker;
  auto b = take_batch(self, i);
  if (result.batch_id() != id) {
    requeue_front(self, std::move(b.jobs));
    fence(self, worker, make_error(errc::protocol_error, "a result for another batch"), false);
    return;
  }
  if (result.timed_out_item() > 0) {
    on_timed_out_item(self, worker, b, result.timed_out_item() - 1);
    return;
  }
  auto split = split_reply(result, b.jobs, b.items);
  if (!split) {
    // A malformed reply is that worker's failure, and its work runs elsewhere.
    requeue_front(self, std::move(b.jobs));
    fence(self, worker, make_error(errc::corrupt_payload, "malformed results"), false);
    return;
  }
  if (auto w = st.workers.find(worker); w != st.workers.end())
    st.stats.items_per_worker[w->second.node.name] += b.items;
  auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - b.sent);
  st.costs.learn(b.jobs.front()->task, b.items, static_cast<double>(result.elapsed_ns()),
                 static_cast<double>(elapsed.count()), b.queued);
  for (size_t k = 0; k < b.jobs.size(); ++k)
    finish(self, b.jobs[k], std::move((*split)[k]));
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
  if (is(err, errc::message_too_large)) {
    // The batch or its reply did not fit a frame (a worker node with a smaller limit than
    // this one, or one that does not fit its replies): the work's failure, not the worker's.
    // A batch of several submissions is split, each may fit alone; no task is lost or retried
    // on another worker, and nobody is blamed.
    auto b = take_batch(self, i);
    if (b.jobs.size() > 1) {
      for (auto& j : b.jobs)
        j->mergeable = false;
      requeue_front(self, std::move(b.jobs));
    } else {
      for (auto& j : b.jobs)
        fail(self, j, make_error(errc::message_too_large, job_name(*j) + ": " + describe(err)));
    }
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

}  // namespace troupe::detail
