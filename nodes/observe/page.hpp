// The dashboard's one page: HTML, CSS and JavaScript in one string built into the library (no
// CDN, no framework, nothing fetched but the JSON API). It polls /api/cluster every second and
// draws the nodes, the pools, the latest errors and a chart of tasks per second.
#pragma once

#include <string_view>

namespace troupe::observe {

std::string_view page();

}  // namespace troupe::observe
