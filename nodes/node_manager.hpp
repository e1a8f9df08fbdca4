// The node's manager actor (internal): the one actor behind a troupe::node. It starts and
// reaps worker processes, adopts sockets as connections, runs listeners, keeps the table of
// peers, and tells subscribers when peers join and leave. Its message protocol is written down
// in nodes/node_protocol.hpp.
#pragma once

#include <memory>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "troupe/nodes/node.hpp"
#include "troupe/nodes/wire/handshake.hpp"
#include "troupe/nodes/wire/tls.hpp"

namespace troupe::detail {

/// Spawns the manager of a node with these settings; `self` is how it introduces itself to peers,
/// `tls` is null for a node without TLS.
caf::actor spawn_node_manager(caf::actor_system& sys, node_options opts, wire::identity self,
                              std::shared_ptr<wire::tls_context> tls);

}  // namespace troupe::detail
