#include "troupe/nodes/observe/json.hpp"

#include <limits>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace troupe::observe {
namespace {

using nlohmann::json;

// A count or id from another process's answer: a whole number that fits T, or the answer is not
// a dashboard's (a negative pid would print as 4294967291).
template <class T>
T whole(const json& j, const char* key) {
  const auto& v = j.at(key);
  if (!v.is_number_unsigned() || v.get<uint64_t>() > std::numeric_limits<T>::max())
    throw std::invalid_argument(std::string{"'"} + key + "' is not a count");
  return v.get<T>();
}

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
      nv.id = whole<uint64_t>(n, "id");
      nv.name = n.at("name").get<std::string>();
      nv.pid = whole<uint32_t>(n, "pid");
      nv.child = n.at("kind").get<std::string>() == "child";
      nv.address = n.at("address").get<std::string>();
      nv.up = n.at("state").get<std::string>() == "up";
      nv.down_reason = n.at("down_reason").get<std::string>();
      nv.since_ms = n.at("since_ms").get<int64_t>();
      nv.heartbeat_age_s = n.at("heartbeat_age_s").get<double>();
      nv.round_trip_s = n.value("round_trip_s", -1.0);  // older heads do not send it
      nv.bytes_in = whole<uint64_t>(n, "bytes_in");
      nv.bytes_out = whole<uint64_t>(n, "bytes_out");
      nv.frames_in = whole<uint64_t>(n, "frames_in");
      nv.frames_out = whole<uint64_t>(n, "frames_out");
      nv.tasks_done = whole<uint64_t>(n, "tasks_done");
      nv.in_flight = whole<uint64_t>(n, "in_flight");
      v.nodes.push_back(std::move(nv));
    }
    for (auto& p : doc.at("pools")) {
      pool_view pv;
      pv.id = whole<uint64_t>(p, "id");
      pv.stats.workers = whole<size_t>(p, "workers_ready");
      pv.queued_items = whole<uint64_t>(p, "queued_items");
      pv.batches_in_flight = whole<uint64_t>(p, "batches_in_flight");
      pv.items_in_flight = whole<uint64_t>(p, "items_in_flight");
      pv.stats.tasks_completed = whole<uint64_t>(p, "tasks_completed");
      pv.failures = whole<uint64_t>(p, "failures");
      pv.stats.redispatched = whole<uint64_t>(p, "redispatched");
      pv.stats.timeouts = whole<uint64_t>(p, "timeouts");
      pv.stats.worker_deaths = whole<uint64_t>(p, "worker_deaths");
      pv.stats.respawned = whole<uint64_t>(p, "respawned");
      v.pools.push_back(std::move(pv));
    }
    return v;
  } catch (const std::exception& e) {  // json's own errors and whole()'s
    // A parser's message may quote what it read: kept to one short line.
    problem = std::string{e.what()}.substr(0, 200);
    return std::nullopt;
  }
}

}  // namespace troupe::observe
