// The dashboard's JSON API (docs/dashboard.md): what /api/cluster and /api/pools answer, and
// the reading troupe --status makes of it.
#pragma once

#include <optional>
#include <string>

#include "troupe/nodes/observe/views.hpp"

namespace troupe::observe {

/// /api/cluster: the head, its nodes (with the tasks each did and runs now, over every pool),
/// its pools and the rejections.
std::string cluster_json(const cluster_view& v);

/// /api/pools: the pools alone.
std::string pools_json(const cluster_view& v);

/// Reads what cluster_json wrote; nullopt (and `problem`) if it is not that.
std::optional<cluster_view> parse_cluster_json(const std::string& text, std::string& problem);

}  // namespace troupe::observe
