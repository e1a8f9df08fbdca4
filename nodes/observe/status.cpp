#include "troupe/nodes/observe/status.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "troupe/nodes/observe/http_get.hpp"
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

// Names come from other processes (a TCP worker picks its own --name): control characters
// would reach the terminal as escape sequences.
std::string printable(std::string text) {
  for (auto& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
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
  out << printable(v.head) << " (pid " << v.head_pid << "), " << up << " node"
      << (up == 1 ? "" : "s") << " up";
  if (up < v.nodes.size())
    out << ", " << v.nodes.size() - up << " down";
  out << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (auto& n : v.nodes)
    rows.push_back({printable(n.name), n.child ? "child" : "tcp", n.up ? "up" : "down",
                    std::to_string(n.pid), age_text(n), round_trip_text(n),
                    std::to_string(n.tasks_done), std::to_string(n.in_flight),
                    bytes_text(n.bytes_in), bytes_text(n.bytes_out)});
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

namespace {

// What --status reads of a head: a few KiB per node; far more is not a troupe dashboard.
constexpr size_t max_answer_bytes = 16 * 1024 * 1024;
// The whole exchange, however the server trickles its answer.
constexpr auto answer_deadline = std::chrono::seconds{10};

}  // namespace

int print_status(const std::string& host, uint16_t port, std::ostream& out, std::ostream& err) {
  auto where = host_and_port(host, port);
  auto a = http_get(host, port, "/api/cluster", max_answer_bytes, answer_deadline);
  if (a.past_deadline) {
    err << "error: " << where << " did not answer /api/cluster within " << answer_deadline.count()
        << " s (is it a troupe head with --dashboard " << where << "?)" << std::endl;
    return 1;
  }
  if (!a.problem.empty() && a.status == 0) {
    err << "error: cannot reach a troupe head at " << where << ": " << a.problem
        << " (is it running with --dashboard " << where << "?)" << std::endl;
    return 1;
  }
  if (!a.problem.empty()) {
    err << "error: " << where << ": " << a.problem
        << (a.too_large ? ": not a troupe dashboard" : "") << std::endl;
    return 1;
  }
  if (a.status != 200) {
    err << "error: " << where << " answered /api/cluster with HTTP " << a.status << std::endl;
    return 1;
  }
  std::string problem;
  auto cluster = parse_cluster_json(a.body, problem);
  if (!cluster) {
    err << "error: " << where << " is not a troupe dashboard: " << problem << std::endl;
    return 1;
  }
  print_cluster(*cluster, out);
  return 0;
}

}  // namespace troupe::observe
