#include "troupe/nodes/observe/json.hpp"

#include <nlohmann/json.hpp>

namespace troupe::observe {
namespace {

using nlohmann::json;

json node_json(const node_view& n) {
  return {{"id", n.id},
          {"name", n.name},
          {"pid", n.pid},
          {"kind", n.child ? "child" : "tcp"},
          {"address", n.address},
          {"state", n.up ? "up" : "down"},
          {"down_reason", n.down_reason},
          {"since_ms", n.since_ms},
          {"heartbeat_age_s", n.heartbeat_age_s},
          {"round_trip_s", n.round_trip_s},
          {"bytes_in", n.bytes_in},
          {"bytes_out", n.bytes_out},
          {"frames_in", n.frames_in},
          {"frames_out", n.frames_out},
          {"tasks_done", n.tasks_done},
          {"in_flight", n.in_flight}};
}

json pool_json(const pool_view& p) {
  json workers = json::array();
  for (auto& w : p.workers)
    workers.push_back({{"name", w.name}, {"node_id", w.node_id}, {"in_flight", w.in_flight}});
  json errors = json::array();
  for (auto& e : p.errors)
    errors.push_back(
        {{"task", e.task}, {"item", e.item}, {"message", e.message}, {"at_ms", e.at_ms}});
  return {{"id", p.id},
          {"workers_ready", p.stats.workers},
          {"queued_items", p.queued_items},
          {"batches_in_flight", p.batches_in_flight},
          {"items_in_flight", p.items_in_flight},
          {"tasks_completed", p.stats.tasks_completed},
          {"failures", p.failures},
          {"redispatched", p.stats.redispatched},
          {"timeouts", p.stats.timeouts},
          {"worker_deaths", p.stats.worker_deaths},
          {"respawned", p.stats.respawned},
          {"fenced", p.stats.fenced},
          {"revoked", p.stats.revoked},
          {"late_results_discarded", p.stats.late_results_discarded},
          {"items_per_worker", p.stats.items_per_worker},
          {"workers", std::move(workers)},
          {"errors", std::move(errors)}};
}

json pools_array(const cluster_view& v) {
  json pools = json::array();
  for (auto& p : v.pools)
    pools.push_back(pool_json(p));
  return pools;
}

}  // namespace

std::string cluster_json(const cluster_view& v) {
  json nodes = json::array();
  for (auto& n : v.nodes)
    nodes.push_back(node_json(n));
  json doc = {{"head", {{"name", v.head}, {"pid", v.head_pid}}},
              {"now_ms", v.now_ms},
              {"uptime_s", v.uptime_s},
              {"nodes", std::move(nodes)},
              {"pools", pools_array(v)},
              {"rejections", v.rejections}};
  // Names come from peers: never let a byte that is not UTF-8 make the whole answer fail.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string pools_json(const cluster_view& v) {
  return json{{"pools", pools_array(v)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<cluster_view> parse_cluster_json(const std::string& text, std::string& problem) {
  try {
    auto doc = json::parse(text);
    cluster_view v;
    v.head = doc.at("head").at("name").get<std::string>();
    v.head_pid = doc.at("head").at("pid").get<uint32_t>();
    v.now_ms = doc.at("now_ms").get<int64_t>();
    v.uptime_s = doc.at("uptime_s").get<double>();
    for (auto& n : doc.at("nodes")) {
      node_view nv;
      nv.id = n.at("id").get<uint64_t>();
      nv.name = n.at("name").get<std::string>();
      nv.pid = n.at("pid").get<uint32_t>();
      nv.child = n.at("kind").get<std::string>() == "child";
      nv.address = n.at("address").get<std::string>();
      nv.up = n.at("state").get<std::string>() == "up";
      nv.down_reason = n.at("down_reason").get<std::string>();
      nv.since_ms = n.at("since_ms").get<int64_t>();
      nv.heartbeat_age_s = n.at("heartbeat_age_s").get<double>();
      nv.round_trip_s = n.value("round_trip_s", -1.0);  // older heads do not send it
      nv.bytes_in = n.at("bytes_in").get<uint64_t>();
      nv.bytes_out = n.at("bytes_out").get<uint64_t>();
      nv.frames_in = n.at("frames_in").get<uint64_t>();
      nv.frames_out = n.at("frames_out").get<uint64_t>();
      nv.tasks_done = n.at("tasks_done").get<uint64_t>();
      nv.in_flight = n.at("in_flight").get<uint64_t>();
      v.nodes.push_back(std::move(nv));
    }
    for (auto& p : doc.at("pools")) {
      pool_view pv;
      pv.id = p.at("id").get<uint64_t>();
      pv.stats.workers = p.at("workers_ready").get<size_t>();
      pv.queued_items = p.at("queued_items").get<uint64_t>();
      pv.batches_in_flight = p.at("batches_in_flight").get<uint64_t>();
      pv.items_in_flight = p.at("items_in_flight").get<uint64_t>();
      pv.stats.tasks_completed = p.at("tasks_completed").get<uint64_t>();
      pv.failures = p.at("failures").get<uint64_t>();
      pv.stats.redispatched = p.at("redispatched").get<uint64_t>();
      pv.stats.timeouts = p.at("timeouts").get<uint64_t>();
      pv.stats.worker_deaths = p.at("worker_deaths").get<uint64_t>();
      pv.stats.respawned = p.at("respawned").get<uint64_t>();
      v.pools.push_back(std::move(pv));
    }
    return v;
  } catch (const json::exception& e) {
    problem = e.what();
    return std::nullopt;
  }
}

}  // namespace troupe::observe
