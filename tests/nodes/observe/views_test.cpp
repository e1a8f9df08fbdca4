// The dashboard's renderings of one cluster view: the JSON API reads back as written, /metrics
// carries each worker's completed tasks under troupe_ names, --status prints every node.
#include <sstream>

#include <gtest/gtest.h>

#include "troupe/nodes/observe/json.hpp"
#include "troupe/nodes/observe/link_counters.hpp"
#include "troupe/nodes/observe/metrics.hpp"
#include "troupe/nodes/observe/status.hpp"

namespace troupe::observe {
namespace {

cluster_view two_workers_one_down() {
  cluster_view v;
  v.head = "head";
  v.head_pid = 42;
  v.now_ms = 1'700'000'000'000;
  v.uptime_s = 12.5;
  node_view a;
  a.id = 1;
  a.name = "worker-a";
  a.pid = 100;
  a.child = true;
  a.address = "child pid 100";
  a.heartbeat_age_s = 0.25;
  a.round_trip_s = 0.0004;
  // 3 round trips: two of at most 250 us, one of at most 500 us (the buckets of link_counters).
  a.round_trip_buckets.assign(link_counters::round_trip_bounds_s.size() + 1, 0);
  a.round_trip_buckets[2] = 2;
  a.round_trip_buckets[3] = 1;
  a.round_trip_sum_s = 0.0009;
  a.bytes_in = 4096;
  a.tasks_done = 7;
  a.in_flight = 2;
  node_view b = a;
  b.id = 2;
  b.name = "worker-b \"quoted\"";
  b.child = false;
  b.up = false;
  b.down_reason = "killed";
  v.nodes = {a, b};
  pool_view p;
  p.id = 1;
  p.queued_items = 3;
  p.items_in_flight = 2;
  p.failures = 1;
  p.stats.workers = 1;
  p.stats.tasks_completed = 12;
  p.stats.worker_deaths = 1;
  p.stats.items_per_worker = {{"worker-a", 7}, {"worker-b \"quoted\"", 5}};
  p.workers = {{.name = "worker-a", .node_id = 1, .in_flight = 2}};
  p.errors = {{.task = "tile", .item = 4, .message = "std::invalid_argument: bad", .at_ms = 1}};
  v.pools = {p};
  v.rejections = {{"handshake", 2}};
  return v;
}

TEST(DashboardViews, ClusterJsonReadsBackAsWritten) {
  auto v = two_workers_one_down();
  std::string problem;
  auto back = parse_cluster_json(cluster_json(v), problem);
  ASSERT_TRUE(back) << problem;
  EXPECT_EQ(back->head, "head");
  ASSERT_EQ(back->nodes.size(), 2u);
  EXPECT_EQ(back->nodes[1].name, "worker-b \"quoted\"");
  EXPECT_FALSE(back->nodes[1].up);
  EXPECT_FALSE(back->nodes[1].child);
  EXPECT_EQ(back->nodes[0].tasks_done, 7u);
  EXPECT_EQ(back->nodes[0].bytes_in, 4096u);
  EXPECT_DOUBLE_EQ(back->nodes[0].round_trip_s, 0.0004);
  ASSERT_EQ(back->pools.size(), 1u);
  EXPECT_EQ(back->pools[0].stats.tasks_completed, 12u);
  EXPECT_EQ(back->pools[0].failures, 1u);
  EXPECT_EQ(back->pools[0].queued_items, 3u);
}

TEST(DashboardViews, ClusterJsonRefusesWhatIsNotTheApi) {
  std::string problem;
  EXPECT_FALSE(parse_cluster_json("<html>not a dashboard</html>", problem));
  EXPECT_FALSE(problem.empty());
  EXPECT_FALSE(parse_cluster_json(R"({"head": {"name": "h"}})", problem));
}

// --status reads another process's answer: nonsense numbers are refused, long errors cut.
TEST(DashboardViews, ClusterJsonRefusesNegativeCountsAndKeepsItsErrorShort) {
  auto text = cluster_json(two_workers_one_down());
  auto pid = text.find("\"pid\":100");
  ASSERT_NE(pid, std::string::npos) << text;
  text.replace(pid, std::string{"\"pid\":100"}.size(), "\"pid\":-5");
  std::string problem;
  EXPECT_FALSE(parse_cluster_json(text, problem));
  EXPECT_NE(problem.find("'pid' is not a count"), std::string::npos) << problem;
  EXPECT_FALSE(parse_cluster_json("[\"" + std::string(100000, 'x'), problem));
  EXPECT_LE(problem.size(), 200u);
}

TEST(DashboardViews, StatusPrintsNoControlCharactersFromNames) {
  auto v = two_workers_one_down();
  v.head = "head\x1b[31m";
  v.nodes[0].name = "evil\r\nname";
  std::ostringstream out;
  print_cluster(v, out);
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find('\r'), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("evil??name"), std::string::npos) << out.str();
}

TEST(DashboardViews, MetricsCarryEachWorkersCompletedTasks) {
  auto text = prometheus_text(two_workers_one_down());
  EXPECT_NE(text.find("# TYPE troupe_tasks_completed_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find("troupe_tasks_completed_total{node=\"worker-a\",pool=\"1\"} 7"),
            std::string::npos)
      << text;
  // Label values are escaped, not cut.
  EXPECT_NE(text.find("node=\"worker-b \\\"quoted\\\"\""), std::string::npos) << text;
  EXPECT_NE(text.find("troupe_queue_depth{pool=\"1\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("troupe_rejections_total{reason=\"handshake\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("troupe_node_up{kind=\"tcp\",link=\"2\",node=\"worker-b"), std::string::npos)
      << text;
  // Heartbeat round trips as a histogram: cumulative buckets, count and sum.
  EXPECT_NE(text.find("# TYPE troupe_heartbeat_round_trip_seconds histogram"), std::string::npos)
      << text;
  EXPECT_NE(text.find("troupe_heartbeat_round_trip_seconds_bucket{kind=\"child\",link=\"1\","
                      "node=\"worker-a\",le=\"0.00025\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("troupe_heartbeat_round_trip_seconds_bucket{kind=\"child\",link=\"1\","
                      "node=\"worker-a\",le=\"+Inf\"} 3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("troupe_heartbeat_round_trip_seconds_count{kind=\"child\",link=\"1\","
                      "node=\"worker-a\"} 3"),
            std::string::npos)
      << text;
}

TEST(DashboardViews, StatusPrintsEveryNodeAndPool) {
  std::ostringstream out;
  print_cluster(two_workers_one_down(), out);
  auto text = out.str();
  EXPECT_NE(text.find("head (pid 42), 1 node up, 1 down"), std::string::npos) << text;
  EXPECT_NE(text.find("worker-a"), std::string::npos) << text;
  EXPECT_NE(text.find("down"), std::string::npos) << text;
  EXPECT_NE(text.find("4.0 KiB"), std::string::npos) << text;
  EXPECT_NE(text.find("400 us"), std::string::npos) << "the round trip: " << text;
  EXPECT_NE(text.find("#1"), std::string::npos) << text;
}

}  // namespace
}  // namespace troupe::observe
