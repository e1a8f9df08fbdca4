// latency.hpp: how troupe's benchmarks turn latency samples into figures (bench-spec.md): the
// nearest-rank percentiles of the one-at-a-time latencies, and the block method of the round
// trips. CAF-free, like peers/peer_common.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "peers/peer_common.hpp"

namespace latency {

/// Nearest rank: the smallest sample with at least a fraction p of all samples at or below it
/// (python_peers.py computes the same), so p50 <= p99 <= p999 always holds.
inline double percentile(std::vector<double> samples, double p) {
  if (samples.empty())
    return 0.0;
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(samples.size())));
  auto k = static_cast<std::ptrdiff_t>(std::max<size_t>(rank, 1) - 1);
  std::nth_element(samples.begin(), samples.begin() + k, samples.end());
  return samples[static_cast<size_t>(k)];
}

/// Emits METRIC_p50, METRIC_p99 and METRIC_p999 of the samples (µs).
inline void emit_percentiles(const peers::options& opt, const std::string& metric, const char* impl,
                             const std::vector<double>& samples_us) {
  for (auto [suffix, p] : {std::pair{"_p50", 0.50}, {"_p99", 0.99}, {"_p999", 0.999}}) {
    auto name = metric + suffix;
    peers::emit(opt, name.c_str(), impl, percentile(samples_us, p), "us");
  }
}

/// Round trips between two processes are bimodal on a 2-vCPU VM (each on its own vCPU, or both
/// on one), so the figure is the minimum of the medians of `blocks` consecutive blocks of the
/// samples: neither one lucky nor one unlucky stretch decides it. Each block's median goes to
/// stderr, to show the spread.
inline double min_of_block_medians(const std::vector<double>& samples_us, size_t blocks,
                                   const char* program, const char* impl) {
  size_t per_block = samples_us.size() / blocks;
  if (per_block == 0)
    peers::fail(program, std::string{"too few round trips for "} + impl);
  std::vector<double> medians;
  std::string spread;
  for (size_t b = 0; b < blocks; ++b) {
    auto first = samples_us.begin() + static_cast<std::ptrdiff_t>(b * per_block);
    medians.push_back(peers::median({first, first + static_cast<std::ptrdiff_t>(per_block)}));
    char text[32];
    std::snprintf(text, sizeof text, " %.1f", medians.back());
    spread += text;
  }
  std::fprintf(stderr, "%s: round_trip %s: block medians (us)%s\n", program, impl, spread.c_str());
  return *std::min_element(medians.begin(), medians.end());
}

}  // namespace latency
