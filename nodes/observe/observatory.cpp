#include "troupe/nodes/observe/observatory.hpp"

#include <caf/actor_cast.hpp>

namespace troupe::observe {
namespace {

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::atomic<observatory*> observatory::instance_{nullptr};

observatory& observatory::enable() {
  // Never destroyed: brokers and dispatchers may report to it until the process ends.
  static observatory* const the_one = [] {
    auto* made = new observatory;
    instance_.store(made, std::memory_order_release);
    return made;
  }();
  return *the_one;
}

std::shared_ptr<link_counters> observatory::link_opened(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& entry = nodes_[id];
  entry.view.id = id;
  if (!entry.counters)
    entry.counters = std::make_shared<link_counters>();
  entry.counters->seen_now();
  return entry.counters;
}

void observatory::node_up(uint64_t id, std::string name, uint32_t pid, bool child,
                          std::string address) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& v = nodes_[id].view;
  v.id = id;
  v.name = std::move(name);
  v.pid = pid;
  v.child = child;
  v.address = std::move(address);
  v.up = true;
  v.since_ms = wall_clock_ms();
}

void observatory::node_down(uint64_t id, std::string reason) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = nodes_.find(id);
  if (i == nodes_.end())
    return;
  i->second.view.up = false;
  i->second.view.down_reason = std::move(reason);
  i->second.view.since_ms = wall_clock_ms();
  size_t down = 0;
  for (auto& kv : nodes_)
    down += kv.second.view.up ? 0 : 1;
  // The oldest departures go first (ids only grow).
  for (auto j = nodes_.begin(); down > departed_kept && j != nodes_.end();) {
    if (!j->second.view.up) {
      j = nodes_.erase(j);
      --down;
    } else {
      ++j;
    }
  }
}

uint64_t observatory::pool_started(const caf::actor& dispatcher) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = next_pool_++;
  pools_.emplace(id, caf::actor_cast<caf::weak_actor_ptr>(dispatcher));
  return id;
}

void observatory::pool_ended(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  pools_.erase(id);
}

void observatory::rejected(std::string_view what) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = rejections_.find(what);
  if (i == rejections_.end())
    i = rejections_.emplace(std::string{what}, 0).first;
  ++i->second;
}

std::vector<node_view> observatory::nodes() const {
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<node_view> out;
  out.reserve(nodes_.size());
  for (auto& kv : nodes_) {
    if (kv.second.view.name.empty())
      continue;  // its handshake ended, the manager has not heard of it yet
    auto v = kv.second.view;
    if (auto& c = kv.second.counters) {
      v.bytes_in = c->bytes_in.load(std::memory_order_relaxed);
      v.bytes_out = c->bytes_out.load(std::memory_order_relaxed);
      v.frames_in = c->frames_in.load(std::memory_order_relaxed);
      v.frames_out = c->frames_out.load(std::memory_order_relaxed);
      if (v.up)
        v.heartbeat_age_s = static_cast<double>(now - c->last_seen_ns.load()) * 1e-9;
      if (auto last = c->last_round_trip_ns.load(std::memory_order_relaxed); last >= 0)
        v.round_trip_s = static_cast<double>(last) * 1e-9;
      v.round_trip_buckets.clear();
      for (auto& bucket : c->round_trips)
        v.round_trip_buckets.push_back(bucket.load(std::memory_order_relaxed));
      v.round_trip_sum_s =
          static_cast<double>(c->round_trip_sum_ns.load(std::memory_order_relaxed)) * 1e-9;
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<std::pair<uint64_t, caf::actor>> observatory::pools() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<uint64_t, caf::actor>> out;
  for (auto& kv : pools_)
    if (auto strong = caf::actor_cast<caf::actor>(kv.second.lock()))
      out.emplace_back(kv.first, std::move(strong));
  return out;
}

std::map<std::string, uint64_t> observatory::rejections() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {rejections_.begin(), rejections_.end()};
}

}  // namespace troupe::observe
