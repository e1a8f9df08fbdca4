#include "troupe/nodes/pool/plan.hpp"

#include <algorithm>
#include <cmath>

#include "troupe/actors/future.hpp"

namespace troupe::pool_plan {

namespace {

// Merging queued submissions of one task into one batch stops at about this much work, so that
// a merged batch never holds up other workers for long.
constexpr double merge_target_ns = 2'000'000;
constexpr uint32_t merge_max_items = 512;
constexpr size_t max_window = 32;

}  // namespace

double cost_model::item_ns(const std::string& task) const {
  auto i = item_ns_.find(task);
  return i == item_ns_.end() ? unmeasured_item_ns : i->second;
}

bool cost_model::measured(const std::string& task) const {
  return item_ns_.count(task) > 0;
}

void cost_model::learn(const std::string& task, uint32_t items, double exec_ns, double elapsed_ns,
                       bool queued) {
  auto exec = std::clamp(exec_ns, 0.0, std::max(elapsed_ns, 0.0));
  auto per_item = exec / std::max<uint32_t>(items, 1);
  auto [cost, fresh] = item_ns_.try_emplace(task, per_item);
  if (!fresh)
    cost->second = 0.8 * cost->second + 0.2 * per_item;
  if (!queued)
    overhead_ns_ = 0.8 * overhead_ns_ + 0.2 * std::max(elapsed_ns - exec, 0.0);
}

size_t window(const cost_model& costs, const std::string& task, size_t queued, size_t workers) {
  // Enough batches in flight to cover a round trip. For a task that dwarfs the round trip, one
  // batch queued behind the running one still saves an idle round trip per task (measured: 3%
  // of a mandelbrot render on one worker), which adds up while many tasks wait; near the end
  // of the queue none is queued, so that no worker still holds a waiting batch when another
  // runs dry (a balanced tail).
  double batch_ns = std::max(costs.item_ns(task), 1.0);
  if (batch_ns >= 20 * costs.overhead_ns())
    return queued > 2 * workers ? 2 : 1;
  auto n = static_cast<size_t>(std::ceil(costs.overhead_ns() / batch_ns)) + 1;
  return std::clamp<size_t>(n, 2, max_window);
}

uint32_t merge_limit(const cost_model& costs, const std::string& task) {
  return static_cast<uint32_t>(std::clamp(merge_target_ns / std::max(costs.item_ns(task), 1.0), 1.0,
                                          double{merge_max_items}));
}

std::optional<uint64_t> pick_worker(const std::vector<worker_load>& workers, bool alone,
                                    size_t window) {
  const worker_load* best = nullptr;
  for (auto& w : workers) {
    if (w.exclusive || (alone ? w.in_flight > 0 : w.in_flight >= window))
      continue;
    if (!best || w.in_flight < best->in_flight)
      best = &w;
  }
  if (!best)
    return std::nullopt;
  return best->id;
}

std::optional<clock::time_point> deadline(std::chrono::milliseconds item_timeout, uint32_t items,
                                          clock::time_point since) {
  if (item_timeout.count() <= 0)
    return std::nullopt;
  // In seconds as a double: items x a long timeout must not overflow the clock.
  auto seconds = std::chrono::duration<double>(item_timeout).count() * items + 1.0;
  if (seconds >= std::chrono::duration<double>(detail::unbounded_wait).count())
    return std::nullopt;
  return since
         + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
}

std::vector<uint64_t> revocations(const cost_model& costs, const std::vector<busy_worker>& busy,
                                  size_t idle_workers, size_t queued, clock::time_point now) {
  std::vector<uint64_t> out;
  if (queued > 0)
    return out;
  for (auto& w : busy) {
    if (out.size() >= idle_workers)
      break;
    if (w.batches < 2 || w.last_revoking)
      continue;
    auto expected = std::chrono::nanoseconds{static_cast<int64_t>(
        2 * costs.item_ns(w.running_task) * w.running_items + 4 * costs.overhead_ns())};
    if (now - w.running_since >= expected)
      out.push_back(w.id);
  }
  return out;
}

}  // namespace troupe::pool_plan
