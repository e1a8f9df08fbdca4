// The asynchronous protocol of a node's manager actor (node::manager()), for actors that must
// not block on node's member functions (internal).
//
//   (start_worker_atom)                      -> peer          starts and joins a worker process
//   (stop_atom, peer id, caf::timespan grace) -> int           stops a worker process we started
//   (subscribe_atom, caf::actor)                              peer_up / peer_down events
//   (endpoints_atom)                         -> vector<string> where this node listens
#pragma once

#include <caf/atom.hpp>

#include "troupe/actors/atoms.hpp"

namespace troupe::detail {

using start_worker_atom = caf::atom_constant<caf::atom("startwork")>;
using adopt_atom = caf::atom_constant<caf::atom("adopt")>;
using listen_atom = caf::atom_constant<caf::atom("listen")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using await_atom = caf::atom_constant<caf::atom("await")>;
using endpoints_atom = caf::atom_constant<caf::atom("endpoints")>;

}  // namespace troupe::detail
