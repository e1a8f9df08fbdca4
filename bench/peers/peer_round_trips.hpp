// peer_round_trips.hpp: how every peer turns its round-trip samples into the `round_trip`
// figure (bench-spec.md's block method), and the size sweep of the one-way bandwidth figures.
// Header-only and free of any peer library, so every peer program can share it.
//
// Why blocks: a ping-pong between two processes on this 2-vCPU VM is bimodal (a few us when both
// stay on their own vCPU, tens of us when they share one), and the mode can change within a run.
// A single median reports whichever mode happened to dominate. The samples are therefore cut, in
// the order they were timed, into `round_trip_blocks` consecutive blocks; the figure is the
// smallest block median (the transport's cost when the scheduler placed the processes well) and
// every block's median goes to stderr, so the spread stays visible.

#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "peer_common.hpp"

namespace peers {

constexpr size_t round_trip_blocks = 5;

// Timed trips per block: 5 x 4,000 = 20,000 (bench-spec.md wants at least 10,000), quick 5 x 1,000.
inline uint64_t round_trip_block_size(bool quick) {
  return quick ? 1'000 : 4'000;
}

// Untimed trips before the first timed one: connections, caches and the scheduler settle.
inline uint64_t round_trip_warmup(bool quick) {
  return round_trip_blocks * round_trip_block_size(quick) / 10;
}

inline uint64_t round_trip_timed(bool quick) {
  return round_trip_blocks * round_trip_block_size(quick);
}

// The figure: the minimum of the block medians. `samples_us` are in the order they were timed.
inline double min_block_median(const char* program, const char* impl,
                               const std::vector<double>& samples_us) {
  if (samples_us.size() < round_trip_blocks)
    fail(program, std::string(impl) + ": too few round-trip samples");
  auto per_block = samples_us.size() / round_trip_blocks;
  double best = 0.0;
  std::string spread;
  for (size_t b = 0; b < round_trip_blocks; ++b) {
    auto first = samples_us.begin() + static_cast<std::ptrdiff_t>(b * per_block);
    auto m = median(std::vector<double>(first, first + static_cast<std::ptrdiff_t>(per_block)));
    best = b == 0 ? m : std::min(best, m);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.3g", b == 0 ? "" : " ", m);
    spread += buf;
  }
  std::fprintf(stderr, "%s: %s round_trip block medians (us, %zu trips each): %s\n", program, impl,
               per_block, spread.c_str());
  return best;
}

// The q-quantile (0..1) of all samples, for the request_latency_p50/_p99/_p999 figures.
inline double quantile(std::vector<double> samples, double q) {
  if (samples.empty())
    return 0.0;
  auto k = static_cast<size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
  auto at = samples.begin() + static_cast<std::ptrdiff_t>(k);
  std::nth_element(samples.begin(), at, samples.end());
  return *at;
}

// ---- the one-way bandwidth sweep --------------------------------------------------------------

struct payload_size {
  size_t bytes;
  const char* metric;
};

// bench-spec.md's sizes; the first 8 bytes of every payload are its sequence number.
inline const std::vector<payload_size>& bandwidth_sizes() {
  static const std::vector<payload_size> sizes{{16, "one_way_bandwidth_16B"},
                                               {256, "one_way_bandwidth_256B"},
                                               {4096, "one_way_bandwidth_4KiB"},
                                               {65536, "one_way_bandwidth_64KiB"},
                                               {1048576, "one_way_bandwidth_1MiB"}};
  return sizes;
}

inline std::vector<std::string> bandwidth_metrics() {
  std::vector<std::string> names;
  for (auto& s : bandwidth_sizes())
    names.emplace_back(s.metric);
  return names;
}

// Messages per size: about 256 MiB of payload (quick 64 MiB), but at least 256 (quick 64)
// messages and at most 200,000 (quick 50,000), so that small sizes do not take minutes on the
// slower peers and the largest still moves enough data to amortise start-up.
inline uint64_t bandwidth_messages(size_t bytes, bool quick) {
  uint64_t budget = quick ? (64u << 20) : (256u << 20);
  uint64_t lo = quick ? 64 : 256;
  uint64_t hi = quick ? 50'000 : 200'000;
  return std::clamp<uint64_t>(budget / bytes, lo, hi);
}

// Payload MB/s (1e6 bytes per second) of `n` messages of `bytes` in `seconds`.
inline double megabytes_per_s(uint64_t n, size_t bytes, double seconds) {
  return static_cast<double>(n) * static_cast<double>(bytes) / seconds / 1e6;
}

}  // namespace peers
