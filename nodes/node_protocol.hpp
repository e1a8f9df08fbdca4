// The asynchronous protocol of a node's manager actor, for actors that must not block on node's
// member functions (internal), and node_access: the one door from troupe's own code to a node's
// internals (its manager actor, adopting a socket), so that the public class shows only the API.
//
//   (start_worker_atom)                      -> peer          starts and joins a worker process
//   (stop_atom, peer id, caf::timespan grace) -> int           stops a worker process we started
//   (subscribe_atom, caf::actor)                              peer_up / peer_down events
//   (endpoints_atom)                         -> vector<string> where this node listens
#pragma once

#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/nodes/node.hpp"
#include "troupe/nodes/wire/handshake.hpp"

namespace troupe::detail {

using start_worker_atom = caf::atom_constant<caf::atom("startwork")>;
using adopt_atom = caf::atom_constant<caf::atom("adopt")>;
using listen_atom = caf::atom_constant<caf::atom("listen")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using await_atom = caf::atom_constant<caf::atom("await")>;
using endpoints_atom = caf::atom_constant<caf::atom("endpoints")>;

/// Whom a socket links to, which decides how the link authenticates (docs/security.md).
enum class link_kind {
  own_socketpair,  // the private socketpair between a head and a child it started: trusted
  tcp,             // another host: this node's cluster secret and TLS settings apply
};

struct adopt_options {
  wire::role role = wire::role::connector;  // acceptor: the side that accepted the connection
  link_kind kind = link_kind::own_socketpair;
  std::chrono::milliseconds timeout = std::chrono::seconds{10};  // for the handshake
};

/// What troupe's own code (the process pool, the worker's side of run()) reaches inside a node.
struct node_access {
  /// The node's manager actor, which speaks the protocol above.
  static const caf::actor& manager(const node& n) noexcept {
    return n.manager_;
  }

  /// Takes over a connected socket (the node owns `fd` from here on, also on error) and returns
  /// once its handshake completed. `address` names the link in logs and in peer::address.
  static caf::expected<peer> adopt(node& n, int fd, std::string address, adopt_options opts) {
    return n.adopt(fd, std::move(address), opts.role == wire::role::acceptor,
                   opts.kind == link_kind::tcp, opts.timeout);
  }
};

}  // namespace troupe::detail
