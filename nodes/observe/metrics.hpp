// /metrics: the cluster in Prometheus's text exposition format, every name prefixed troupe_
// (the list, with labels, is in docs/dashboard.md). Built afresh from a cluster_view on every
// scrape with prometheus-cpp's registry and text serializer: nothing is kept between scrapes, so
// a head nobody scrapes spends nothing on metrics.
#pragma once

#include <string>

#include "troupe/nodes/observe/views.hpp"

namespace troupe::observe {

std::string prometheus_text(const cluster_view& v);

}  // namespace troupe::observe
