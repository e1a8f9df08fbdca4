#include "troupe/nodes/observe/cluster.hpp"

#include <unistd.h>

#include <set>

#include <caf/scoped_actor.hpp>

#include "troupe/nodes/observe/observatory.hpp"
#include "troupe/nodes/pool/dispatcher.hpp"

namespace troupe::observe {

cluster_view collect(caf::actor_system& sys, const std::string& head_name,
                     std::chrono::milliseconds pool_timeout) {
  cluster_view v;
  v.head = head_name;
  v.head_pid = static_cast<uint32_t>(getpid());
  v.now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto& obs = observatory::enable();
  v.uptime_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - obs.started()).count();
  v.nodes = obs.nodes();
  v.rejections = obs.rejections();
  auto pools = obs.pools();
  if (pools.empty())
    return v;
  caf::scoped_actor self{sys};
  for (auto& [id, dispatcher] : pools) {
    self->request(dispatcher, pool_timeout, detail::observe_pool_atom::value)
        .receive(
            [&, id = id](pool_view& p) {
              p.id = id;
              v.pools.push_back(std::move(p));
            },
            [](caf::error&) {});  // finished meanwhile, or too busy to answer: next time
  }
  // Pools count tasks by worker name. A name can come back (a node of the same name joins
  // again): the tasks go to the latest node of that name (ids only grow), never to both.
  std::set<std::string> attributed;
  for (auto n = v.nodes.rbegin(); n != v.nodes.rend(); ++n) {
    bool first_of_name = attributed.insert(n->name).second;
    for (auto& p : v.pools) {
      auto i = p.stats.items_per_worker.find(n->name);
      if (first_of_name && i != p.stats.items_per_worker.end())
        n->tasks_done += i->second;
      for (auto& w : p.workers)
        if (w.node_id == n->id)
          n->in_flight += w.in_flight;
    }
  }
  return v;
}

}  // namespace troupe::observe
