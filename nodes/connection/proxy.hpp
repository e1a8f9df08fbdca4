// remote_proxy: a remote actor, here (a caf::actor_proxy). A message to it is encoded on the
// sender's thread into its link (link_state::send); links and monitors stay local: the proxy
// terminates, and its monitors fire, when the remote actor terminates or its node is lost
// (caf::actor_proxy::kill_proxy, called by the broker).
#pragma once

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

#include "troupe/nodes/connection/link.hpp"

namespace troupe::detail {

/// A proxy for actor `id` of the peer `node`, sending over `link`.
caf::strong_actor_ptr make_remote_proxy(caf::actor_system& sys, caf::actor_id id,
                                        const caf::node_id& node, std::shared_ptr<link_state> link);

}  // namespace troupe::detail
