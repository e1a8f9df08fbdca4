// The dispatcher's books and the steps its handlers share (internal, for dispatcher.cpp,
// dispatcher_results.cpp and dispatcher_tick.cpp). Everything here runs on the dispatcher's
// thread; only job::phase is touched from others (future::cancel).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/messages/pool.pb.h"
#include "troupe/messages/protobuf.hpp"
#include "troupe/nodes/node.hpp"
#include "troupe/nodes/observe/views.hpp"
#include "troupe/nodes/pool/detail/job.hpp"
#include "troupe/nodes/pool/plan.hpp"
#include "troupe/nodes/pool/process_pool.hpp"

namespace troupe::detail {

using clock = std::chrono::steady_clock;

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
  size_t max_frame_size = 0;  // the node's: a job's arguments over it never leave
  caf::actor manager;
  std::deque<job_ptr> queue;
  std::map<uint64_t, worker_slot> workers;  // ready workers by peer id
  std::map<uint64_t, peer> own_children;    // worker processes this pool started
  std::set<std::string> fenced;             // names of workers dropped for misbehaving
  std::vector<std::string> endpoints;       // where worker nodes can join, for messages
  size_t starting = 0;                      // worker processes being started
  unsigned start_failures = 0;              // in a row
  caf::error gave_up;                       // set once start-up failures exhausted the pool
  // Starts not yet asked of the node (true: a replacement), begun a few at a time: see
  // start_queued_workers in dispatcher.cpp.
  std::deque<bool> start_queue;
  std::unordered_map<uint64_t, batch> batches;
  uint64_t next_batch = 1;
  pool_plan::cost_model costs;  // sizes each worker's window and how much merging pays
  bool closing = false;
  bool terminated = false;
  bool ticking = false;
  clock::time_point no_worker_since;  // work pending without any worker since then
  clock::time_point last_waiting_notice;
  std::vector<caf::response_promise> drained_waiters;
  std::vector<std::pair<size_t, caf::response_promise>> worker_waiters;
  pool_stats stats;
  uint64_t failures = 0;                               // items that failed (not cancelled)
  std::deque<observe::task_error_view> recent_errors;  // kept while a dashboard runs
  static inline const char* name = "troupe.process_pool";
};

using dispatcher_actor = caf::stateful_actor<dispatcher_state>;

inline bool has_work(const dispatcher_state& st) {
  return !st.queue.empty() || !st.batches.empty();
}

// dispatcher.cpp
void dispatch(dispatcher_actor* self);
void notify_waiters(dispatcher_actor* self);
void finish(dispatcher_actor* self, const job_ptr& j, job_result&& r);
void fail(dispatcher_actor* self, const job_ptr& j, caf::error err);
/// "task 'f' (item 3-5)": whose job it is, for messages.
std::string job_name(const job& j);
void fail_all(dispatcher_actor* self, const caf::error& err);
void requeue_front(dispatcher_actor* self, std::vector<job_ptr> jobs);
/// Removes a batch from its worker's books; the next batch there starts now.
batch take_batch(dispatcher_actor* self, std::unordered_map<uint64_t, batch>::iterator i);
/// Stops using a worker that misbehaved; its batches run elsewhere.
void fence(dispatcher_actor* self, uint64_t id, const caf::error& reason, bool blameless);
/// A worker is gone: everything in flight there runs again.
void worker_lost(dispatcher_actor* self, uint64_t id, const caf::error& reason,
                 bool blameless = false);

// dispatcher_results.cpp
void on_result(dispatcher_actor* self, uint64_t id, pool::ResultBatch& result);
void on_batch_error(dispatcher_actor* self, uint64_t id, const caf::error& err);

// dispatcher_observe.cpp
/// Counts `count` failed items of `j` from `item` on; while a dashboard runs, also remembers
/// the error, as `message()` words it (called only then: wording an error costs).
void record_failure(dispatcher_actor* self, const job& j, uint32_t item, uint64_t count,
                    const std::function<std::string()>& message);
/// What the dashboard shows of this pool (observe_pool_atom).
observe::pool_view observe_pool(dispatcher_actor* self);

// dispatcher_tick.cpp
void start_ticking(dispatcher_actor* self);
void on_tick(dispatcher_actor* self);

}  // namespace troupe::detail
