#include "troupe/nodes/observe/status.hpp"

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <vector>

#include <httplib.h>

#include "troupe/nodes/observe/json.hpp"

namespace troupe::observe {
namespace {

std::string bytes_text(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(n);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

std::string age_text(const node_view& n) {
  if (!n.up || n.heartbeat_age_s < 0)
    return "-";
  char text[32];
  std::snprintf(text, sizeof(text), "%.0f ms", n.heartbeat_age_s * 1000);
  return text;
}

std::string round_trip_text(const node_view& n) {
  if (!n.up || n.round_trip_s < 0)
    return "-";
  char text[32];
  if (n.round_trip_s < 1e-3)
    std::snprintf(text, sizeof(text), "%.0f us", n.round_trip_s * 1e6);
  else
    std::snprintf(text, sizeof(text), "%.2f ms", n.round_trip_s * 1e3);
  return text;
}

// Columns as wide as their widest cell; numbers right-aligned.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, size_t first_number_column) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (auto& r : rows)
      width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      auto pad = std::string(width[c] - cells[c].size(), ' ');
      text += c >= first_number_column ? pad + cells[c] : cells[c] + pad;
      if (c + 1 < cells.size())
        text += "  ";
    }
    while (!text.empty() && text.back() == ' ')
      text.pop_back();
    out << text << "\n";
  };
  line(header);
  for (auto& r : rows)
    line(r);
}

}  // namespace

void print_cluster(const cluster_view& v, std::ostream& out) {
  size_t up = std::count_if(v.nodes.begin(), v.nodes.end(), [](auto& n) { return n.up; });
  out << v.head << " (pid " << v.head_pid << "), " << up << " node" << (up == 1 ? "" : "s")
      << " up";
  if (up < v.nodes.size())
    out << ", " << v.nodes.size() - up << " down";
  out << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (auto& n : v.nodes)
    rows.push_back({n.name, n.child ? "child" : "tcp", n.up ? "up" : "down", std::to_string(n.pid),
                    age_text(n), round_trip_text(n), std::to_string(n.tasks_done),
                    std::to_string(n.in_flight), bytes_text(n.bytes_in), bytes_text(n.bytes_out)});
  if (rows.empty())
    out << "no nodes\n";
  else
    print_table(out,
                {"NODE", "KIND", "STATE", "PID", "HEARTBEAT", "ROUND TRIP", "TASKS", "IN FLIGHT",
                 "RECEIVED", "SENT"},
                rows, 3);
  out << "\n";
  rows.clear();
  for (auto& p : v.pools)
    rows.push_back({"#" + std::to_string(p.id), std::to_string(p.stats.workers),
                    std::to_string(p.queued_items), std::to_string(p.items_in_flight),
                    std::to_string(p.stats.tasks_completed), std::to_string(p.failures),
                    std::to_string(p.stats.redispatched), std::to_string(p.stats.worker_deaths),
                    std::to_string(p.stats.respawned)});
  if (rows.empty())
    out << "no pools running\n";
  else
    print_table(out,
                {"POOL", "WORKERS", "QUEUED", "IN FLIGHT", "COMPLETED", "FAILED", "REDISPATCHED",
                 "DEATHS", "RESPAWNS"},
                rows, 1);
}

int print_status(const std::string& host, uint16_t port, std::ostream& out, std::ostream& err) {
  httplib::Client client{host, port};
  client.set_connection_timeout(3, 0);
  client.set_read_timeout(5, 0);
  auto where = host + ":" + std::to_string(port);
  auto res = client.Get("/api/cluster");
  if (!res) {
    err << "error: cannot reach a troupe head at " << where << ": "
        << httplib::to_string(res.error()) << " (is it running with --dashboard " << where << "?)"
        << std::endl;
    return 1;
  }
  if (res->status != 200) {
    err << "error: " << where << " answered /api/cluster with HTTP " << res->status << std::endl;
    return 1;
  }
  std::string problem;
  auto cluster = parse_cluster_json(res->body, problem);
  if (!cluster) {
    err << "error: " << where << " is not a troupe dashboard: " << problem << std::endl;
    return 1;
  }
  print_cluster(*cluster, out);
  return 0;
}

}  // namespace troupe::observe
