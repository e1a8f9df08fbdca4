// latency.hpp: troupe's benchmarks' latency figures, computed exactly as the peers compute
// theirs (peers/peer_round_trips.hpp: the round trip's block method and the quantiles), so that
// troupe and every peer are measured the same way.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "peers/peer_common.hpp"
#include "peers/peer_round_trips.hpp"

namespace latency {

/// Emits METRIC_p50, METRIC_p99 and METRIC_p999 of the samples (µs).
inline void emit_percentiles(const peers::options& opt, const std::string& metric, const char* impl,
                             const std::vector<double>& samples_us) {
  for (auto [suffix, q] : {std::pair{"_p50", 0.50}, {"_p99", 0.99}, {"_p999", 0.999}}) {
    auto name = metric + suffix;
    peers::emit(opt, name.c_str(), impl, peers::quantile(samples_us, q), "us");
  }
}

}  // namespace latency
