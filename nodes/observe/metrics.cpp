#include "troupe/nodes/observe/metrics.hpp"

#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "troupe/nodes/observe/link_counters.hpp"

namespace troupe::observe {
namespace {

using prometheus::Labels;

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& r, const std::string& name,
                                                 const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& r, const std::string& name,
                                             const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

template <class Number>
double as_double(Number n) {
  return static_cast<double>(n);
}

}  // namespace

std::string prometheus_text(const cluster_view& v) {
  prometheus::Registry r;
  auto& completed = counter(r, "troupe_tasks_completed_total",
                            "Items a worker answered with a result or a task exception");
  auto& in_flight = gauge(r, "troupe_tasks_in_flight", "Items sent to a worker, not answered yet");
  auto& pool_completed =
      counter(r, "troupe_pool_tasks_completed_total", "Items of the pool that completed");
  auto& failed = counter(r, "troupe_tasks_failed_total",
                         "Items that failed (task exceptions, timeouts, lost)");
  auto& redispatched = counter(r, "troupe_tasks_redispatched_total",
                               "Items sent again after the worker running them was lost");
  auto& timeouts = counter(r, "troupe_task_timeouts_total", "Items that ran past their timeout");
  auto& deaths = counter(r, "troupe_worker_deaths_total", "Workers lost while the pool ran");
  auto& respawns =
      counter(r, "troupe_respawns_total", "Worker processes started to replace dead ones");
  auto& fenced =
      counter(r, "troupe_workers_fenced_total", "Workers dropped for silence or malformed results");
  auto& queue = gauge(r, "troupe_queue_depth", "Items queued, not yet sent to a worker");
  auto& batches = gauge(r, "troupe_batches_in_flight", "Batches sent and not answered yet");
  auto& ready = gauge(r, "troupe_workers_ready", "Workers the pool can send work to now");
  for (auto& p : v.pools) {
    auto pool = std::to_string(p.id);
    for (auto& [name, items] : p.stats.items_per_worker)
      completed.Add({{"pool", pool}, {"node", name}}).Increment(as_double(items));
    for (auto& w : p.workers)
      in_flight.Add({{"pool", pool}, {"node", w.name}}).Set(as_double(w.in_flight));
    pool_completed.Add({{"pool", pool}}).Increment(as_double(p.stats.tasks_completed));
    failed.Add({{"pool", pool}}).Increment(as_double(p.failures));
    redispatched.Add({{"pool", pool}}).Increment(as_double(p.stats.redispatched));
    timeouts.Add({{"pool", pool}}).Increment(as_double(p.stats.timeouts));
    deaths.Add({{"pool", pool}}).Increment(as_double(p.stats.worker_deaths));
    respawns.Add({{"pool", pool}}).Increment(as_double(p.stats.respawned));
    fenced.Add({{"pool", pool}}).Increment(as_double(p.stats.fenced));
    queue.Add({{"pool", pool}}).Set(as_double(p.queued_items));
    batches.Add({{"pool", pool}}).Set(as_double(p.batches_in_flight));
    ready.Add({{"pool", pool}}).Set(as_double(p.stats.workers));
  }

  auto& up = gauge(r, "troupe_node_up", "1 while the link to the node is up, 0 once it closed");
  auto& age =
      gauge(r, "troupe_heartbeat_age_seconds", "Seconds since bytes last came from the node");
  auto& bytes_in = counter(r, "troupe_link_received_bytes_total", "Bytes received on the link");
  auto& bytes_out = counter(r, "troupe_link_sent_bytes_total", "Bytes sent on the link");
  auto& frames_in = counter(r, "troupe_link_received_frames_total", "Frames received on the link");
  auto& frames_out = counter(r, "troupe_link_sent_frames_total", "Frames sent on the link");
  auto& round_trip = prometheus::BuildHistogram()
                         .Name("troupe_heartbeat_round_trip_seconds")
                         .Help("Round trips of the link, measured by its echoed heartbeats")
                         .Register(r);
  const prometheus::Histogram::BucketBoundaries bounds{link_counters::round_trip_bounds_s.begin(),
                                                       link_counters::round_trip_bounds_s.end()};
  for (auto& n : v.nodes) {
    // A node's name may come back (a worker that rejoins): the connection id keeps series apart.
    Labels node{
        {"node", n.name}, {"kind", n.child ? "child" : "tcp"}, {"link", std::to_string(n.id)}};
    up.Add(node).Set(n.up ? 1 : 0);
    if (n.up && n.heartbeat_age_s >= 0)
      age.Add(node).Set(n.heartbeat_age_s);
    bytes_in.Add(node).Increment(as_double(n.bytes_in));
    bytes_out.Add(node).Increment(as_double(n.bytes_out));
    frames_in.Add(node).Increment(as_double(n.frames_in));
    frames_out.Add(node).Increment(as_double(n.frames_out));
    if (n.round_trip_buckets.size() == bounds.size() + 1) {
      std::vector<double> counts(n.round_trip_buckets.begin(), n.round_trip_buckets.end());
      round_trip.Add(node, bounds).ObserveMultiple(counts, n.round_trip_sum_s);
    }
  }

  auto& rejected =
      counter(r, "troupe_rejections_total",
              "Hostile or broken input refused (handshakes, frames, envelopes), by reason");
  for (auto& [reason, count] : v.rejections)
    rejected.Add({{"reason", reason}}).Increment(as_double(count));

  gauge(r, "troupe_dashboard_uptime_seconds", "Seconds since the dashboard started")
      .Add({})
      .Set(v.uptime_s);
  return prometheus::TextSerializer{}.Serialize(r.Collect());
}

}  // namespace troupe::observe
