#include "troupe/nodes/pool/task_runner.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <functional>
#include <optional>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/actors/future.hpp"
#include "troupe/messages/pool.pb.h"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/pool/result_limit.hpp"

namespace troupe {
namespace {

using clock = std::chrono::steady_clock;
using check_atom = caf::atom_constant<caf::atom("tcheck")>;
using quit_atom = caf::atom_constant<caf::atom("tquit")>;

// Which item the executor is running, and since when: written by the executor's thread before
// each item, read by the runner's watchdog.
struct progress_cell {
  std::atomic<uint32_t> item{0};
  std::atomic<int64_t> started_ns{0};
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
      .count();
}

// The batch's per-item timeout; 0 for none (also for values too large to mean anything).
std::chrono::milliseconds item_timeout(const pool::TaskBatch& batch) {
  constexpr uint64_t unbounded_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(detail::unbounded_wait).count();
  auto ms = batch.item_timeout_ms();
  return std::chrono::milliseconds{ms < unbounded_ms ? static_cast<int64_t>(ms) : 0};
}

// Runs one batch at a time on a thread of its own (spawned detached): a task may compute for
// minutes or never return, and must hold up neither the scheduler nor the runner's mailbox.
caf::behavior executor(caf::event_based_actor* self, std::shared_ptr<progress_cell> progress) {
  const auto* cfg = dynamic_cast<const config*>(&self->system().config());
  return {
      [cfg, progress](const pool::TaskBatch& batch) -> caf::result<pool::ResultBatch> {
        const auto* task = cfg ? cfg->tasks().find(batch.task()) : nullptr;
        if (!task)
          return make_error(errc::unknown_task,
                            "no task named '" + batch.task() + "' is registered on this node");
        pool::ResultBatch result;
        result.set_batch_id(batch.batch_id());
        std::vector<task_failure> failures;
        // Only a batch with a timeout has a watchdog to read the progress: without one, no
        // clock is read per item (for tiny tasks the clock cost more than the task itself).
        std::function<void(uint32_t)> report;
        if (item_timeout(batch).count() > 0)
          report = [&progress](uint32_t item) {
            progress->started_ns.store(now_ns(), std::memory_order_relaxed);
            progress->item.store(item, std::memory_order_release);
          };
        auto start = clock::now();
        task->run(batch.args(), *result.mutable_results(), failures, report);
        result.set_elapsed_ns(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count()));
        for (auto& failure : failures) {
          auto* out = result.add_failures();
          out->set_index(failure.index);
          out->set_message(std::move(failure.message));
          out->set_type(std::move(failure.type));
        }
        // A reply over the head's frame limit would be refused whole, and its worker taken for
        // lost: the results that do not fit fail as items instead.
        detail::fit_reply(result, batch.max_frame_size());
        return result;
      },
  };
}

struct queued_batch {
  pool::TaskBatch batch;
  caf::response_promise reply;
};

struct runner_state {
  caf::actor executor;
  std::shared_ptr<progress_cell> progress = std::make_shared<progress_cell>();
  std::deque<queued_batch> queue;
  std::optional<queued_batch> running;
  bool stuck = false;  // an item overran its timeout: the executor's thread is lost to it
  static inline const char* name = "troupe.task_runner";
};

using runner_actor = caf::stateful_actor<runner_state>;

void start_next(runner_actor* self);

void schedule_check(runner_actor* self, uint64_t batch_id, std::chrono::nanoseconds after) {
  self->delayed_send(self, std::max(after, std::chrono::nanoseconds{std::chrono::milliseconds{1}}),
                     check_atom::value, batch_id);
}

// The watchdog: is the running item past its timeout?
void check_timeout(runner_actor* self, uint64_t batch_id) {
  auto& st = self->state;
  if (!st.running || st.running->batch.batch_id() != batch_id || st.stuck)
    return;
  auto item = st.progress->item.load(std::memory_order_acquire);
  auto started = std::chrono::nanoseconds{st.progress->started_ns.load(std::memory_order_relaxed)};
  auto limit = item_timeout(st.running->batch);
  auto ran = std::chrono::nanoseconds{now_ns()} - started;
  if (ran < limit) {
    schedule_check(self, batch_id, limit - ran);
    return;
  }
  st.stuck = true;
  log::get().error(
      "task '{}' (item {} of batch {}) ran longer than {} ms; this worker cannot "
      "stop it and exits",
      st.running->batch.task(), item, batch_id, limit.count());
  pool::ResultBatch report;
  report.set_batch_id(batch_id);
  report.set_timed_out_item(item + 1);
  report.set_elapsed_ns(static_cast<uint64_t>(ran.count()));
  st.running->reply.deliver(std::move(report));
  st.running.reset();
  for (auto& q : st.queue)
    q.reply.deliver(make_error(errc::revoked, "the worker is stuck in a timed-out task"));
  st.queue.clear();
  // A thread cannot be cancelled: the process is the unit that can be stopped. Exiting (after
  // the report has left) lets the head, or a supervisor, start a fresh worker.
  self->delayed_send(self, std::chrono::milliseconds{200}, quit_atom::value);
}

void start_next(runner_actor* self) {
  auto& st = self->state;
  if (st.running || st.queue.empty() || st.stuck)
    return;
  st.running = std::move(st.queue.front());
  st.queue.pop_front();
  auto id = st.running->batch.batch_id();
  if (auto timeout = item_timeout(st.running->batch); timeout.count() > 0) {
    st.progress->started_ns.store(now_ns(), std::memory_order_relaxed);
    st.progress->item.store(0, std::memory_order_release);
    schedule_check(self, id, timeout);
  }
  auto finished = [self, id](caf::expected<pool::ResultBatch> outcome) {
    auto& st = self->state;
    if (!st.running || st.running->batch.batch_id() != id)
      return;  // reported as timed out already
    if (outcome)
      st.running->reply.deliver(std::move(*outcome));
    else
      st.running->reply.deliver(std::move(outcome.error()));
    st.running.reset();
    start_next(self);
  };
  self->request(st.executor, caf::infinite, st.running->batch)
      .then([finished](pool::ResultBatch& result) { finished(std::move(result)); },
            [finished](caf::error& err) { finished(std::move(err)); });
}

caf::behavior task_runner(runner_actor* self) {
  self->state.executor = self->spawn<caf::detached + caf::linked>(executor, self->state.progress);
  return {
      [self](pool::TaskBatch& batch) -> caf::result<pool::ResultBatch> {
        auto& st = self->state;
        if (st.stuck)
          return make_error(errc::revoked, "the worker is stuck in a timed-out task");
        auto rp = self->make_response_promise<pool::ResultBatch>();
        st.queue.push_back(queued_batch{std::move(batch), rp});
        start_next(self);
        return rp;
      },
      [self](const pool::RevokeBatch& revoke) {
        auto& q = self->state.queue;
        for (auto i = q.begin(); i != q.end(); ++i) {
          if (i->batch.batch_id() == revoke.batch_id()) {
            i->reply.deliver(make_error(errc::revoked, "handed back before it started"));
            q.erase(i);
            return;
          }
        }
        // Running or done already: nothing to give back.
      },
      [self](pool::BatchProbe& probe) {
        auto& st = self->state;
        auto id = probe.batch_id();
        bool held = (st.running && st.running->batch.batch_id() == id)
                    || std::any_of(st.queue.begin(), st.queue.end(), [id](const queued_batch& q) {
                         return q.batch.batch_id() == id;
                       });
        probe.set_held(held);
        return probe;
      },
      [self](check_atom, uint64_t batch_id) { check_timeout(self, batch_id); },
      [](quit_atom) {
        log::get().flush();
        std::_Exit(3);
      },
  };
}

}  // namespace

void add_task_runner(config& cfg) {
  cfg.add_actor_type(task_runner_type, task_runner);
}

}  // namespace troupe
