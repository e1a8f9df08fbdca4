// What a pool's dispatcher tells the dashboard (nodes/observe/): its failures as they happen,
// and on request a view of its queue, its batches and its workers. Runs on the dispatcher's
// thread; the request comes about once a second per open dashboard, never when none is open.
#include <chrono>

#include "troupe/nodes/observe/observatory.hpp"
#include "troupe/nodes/pool/dispatcher_state.hpp"

namespace troupe::detail {
namespace {

// Enough for an operator to see what goes wrong; old ones matter less than a bounded memory.
constexpr size_t recent_errors_kept = 20;

}  // namespace

void record_failure(dispatcher_actor* self, const job& j, uint32_t item, uint64_t count,
                    const std::function<std::string()>& message) {
  auto& st = self->state;
  st.failures += count;
  if (observe::observatory::active() == nullptr)
    return;
  observe::task_error_view e;
  e.task = j.task;
  e.item = j.first_index + item;
  e.message = message();
  e.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  st.recent_errors.push_back(std::move(e));
  if (st.recent_errors.size() > recent_errors_kept)
    st.recent_errors.pop_front();
}

observe::pool_view observe_pool(dispatcher_actor* self) {
  auto& st = self->state;
  observe::pool_view v;
  for (auto& j : st.queue)
    v.queued_items += j->count;
  v.batches_in_flight = st.batches.size();
  std::map<uint64_t, uint64_t> items_on;  // by worker
  for (auto& kv : st.batches) {
    v.items_in_flight += kv.second.items;
    items_on[kv.second.worker] += kv.second.items;
  }
  v.failures = st.failures;
  v.stats = st.stats;
  v.stats.workers = st.workers.size();
  for (auto& kv : st.workers)
    v.workers.push_back(
        {.name = kv.second.node.name, .node_id = kv.first, .in_flight = items_on[kv.first]});
  v.errors.assign(st.recent_errors.begin(), st.recent_errors.end());
  return v;
}

}  // namespace troupe::detail
