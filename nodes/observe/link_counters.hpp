// What one link has carried, counted by its broker and link state while the dashboard is on
// (observatory::active()); read by the dashboard's HTTP thread. Relaxed atomics: each number is
// exact on its own, a reader may see one a little ahead of another.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace troupe::observe {

struct link_counters {
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> frames_out{0};
  /// When bytes last arrived (steady_clock, nanoseconds since its epoch): heartbeat age.
  std::atomic<int64_t> last_seen_ns{0};

  /// Heartbeat round trips (wire/heartbeat_clock.hpp) as a histogram: how many fell at or
  /// under each bound (the last bucket: over every bound), their sum, the latest.
  static constexpr std::array<double, 12> round_trip_bounds_s = {
      50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 500e-3, 2.5};
  std::array<std::atomic<uint64_t>, round_trip_bounds_s.size() + 1> round_trips{};
  std::atomic<uint64_t> round_trip_sum_ns{0};
  std::atomic<int64_t> last_round_trip_ns{-1};

  void round_trip(std::chrono::steady_clock::duration rtt) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count();
    size_t bucket = 0;
    while (bucket < round_trip_bounds_s.size()
           && static_cast<double>(ns) * 1e-9 > round_trip_bounds_s[bucket])
      ++bucket;
    add(round_trips[bucket], 1);
    add(round_trip_sum_ns, static_cast<uint64_t>(ns));
    last_round_trip_ns.store(ns, std::memory_order_relaxed);
  }

  void seen_now() {
    last_seen_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                       std::memory_order_relaxed);
  }
  static void add(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
};

}  // namespace troupe::observe
