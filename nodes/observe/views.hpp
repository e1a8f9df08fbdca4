// What the dashboard shows, as plain values: the nodes a head is linked to, its pools, and the
// input it rejected. Built on the HTTP thread from the observatory (observatory.hpp) and from
// each pool's dispatcher (pool_view, answered to observe_pool_atom), then rendered as JSON
// (json.hpp), Prometheus text (metrics.hpp) or a table (status.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "troupe/nodes/pool/options.hpp"

namespace troupe::observe {

/// One peer node: a worker process this head started (child) or a node that joined over TCP.
struct node_view {
  uint64_t id = 0;  // the connection's id, unique in this process
  std::string name;
  uint32_t pid = 0;
  bool child = false;
  std::string address;
  bool up = true;
  std::string down_reason;      // why its link closed, once down
  int64_t since_ms = 0;         // wall clock (ms since 1970) it joined, or left once down
  double heartbeat_age_s = -1;  // seconds since bytes last arrived; -1: not known
  double round_trip_s = -1;     // the latest heartbeat round trip; -1: none measured yet
  // Every round trip measured: counts per bucket of link_counters::round_trip_bounds_s (the
  // last: above them all), not cumulative, and their sum.
  std::vector<uint64_t> round_trip_buckets;
  double round_trip_sum_s = 0;
  uint64_t bytes_in = 0, bytes_out = 0, frames_in = 0, frames_out = 0;
  uint64_t tasks_done = 0;  // items it answered, over every pool
  uint64_t in_flight = 0;   // items it runs or has queued now, over every pool
};

/// One worker as a pool sees it.
struct pool_worker_view {
  std::string name;
  uint64_t node_id = 0;
  uint64_t in_flight = 0;  // items sent to it and not answered yet
};

/// A failed item: the task's name, the item's position in its call, what went wrong.
struct task_error_view {
  std::string task;
  uint32_t item = 0;
  std::string message;
  int64_t at_ms = 0;  // wall clock, ms since 1970
};

struct pool_view {
  uint64_t id = 0;  // numbered in the order pools started in this process, from 1
  uint64_t queued_items = 0;
  uint64_t batches_in_flight = 0;
  uint64_t items_in_flight = 0;
  uint64_t failures = 0;                  // items that ended with an error or a task exception
  pool_stats stats;                       // what the pool reports to process_pool::stats()
  std::vector<pool_worker_view> workers;  // ready now
  std::vector<task_error_view> errors;    // the latest, oldest first
};

struct cluster_view {
  std::string head;
  uint32_t head_pid = 0;
  int64_t now_ms = 0;
  double uptime_s = 0;  // since the dashboard started
  std::vector<node_view> nodes;
  std::vector<pool_view> pools;
  std::map<std::string, uint64_t> rejections;  // by what was rejected (log::rejected)
};

}  // namespace troupe::observe
