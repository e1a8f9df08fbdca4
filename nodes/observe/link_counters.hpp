// What one link has carried, counted by its broker and link state while the dashboard is on
// (observatory::active()); read by the dashboard's HTTP thread. Relaxed atomics: each number is
// exact on its own, a reader may see one a little ahead of another.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace troupe::observe {

struct link_counters {
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> frames_out{0};
  /// When bytes last arrived (steady_clock, nanoseconds since its epoch): heartbeat age.
  std::atomic<int64_t> last_seen_ns{0};

  void seen_now() {
    last_seen_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                       std::memory_order_relaxed);
  }
  static void add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
};

}  // namespace troupe::observe
