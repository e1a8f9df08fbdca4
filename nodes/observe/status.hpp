// --status HOST:PORT: what an operator types first. Reads a head's /api/cluster (its
// --dashboard address) and prints its nodes and pools as tables. Returns the exit status: 0, or
// 1 with one line on `err` saying why when the head cannot be reached or does not answer with
// the API.
#pragma once

#include <iosfwd>
#include <string>

#include "troupe/nodes/observe/views.hpp"

namespace troupe::observe {

int print_status(const std::string& host, uint16_t port, std::ostream& out, std::ostream& err);

/// The tables alone (what print_status prints once it has the cluster).
void print_cluster(const cluster_view& v, std::ostream& out);

}  // namespace troupe::observe
