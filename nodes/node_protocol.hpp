// The message protocol of a node's manager actor (nodes/node_manager.cpp), for troupe's own
// actors that must not block on node's member functions (internal), and node_access: the one
// door from troupe's own code to a node's internals (its manager actor, adopting a socket), so
// that the public class shows only the API.
//
// The manager's protocol, all of it (local messages):
//
//   from node's member functions and troupe's actors
//   (start_worker_atom)                       -> peer   starts a worker process; answered once it
//                                                       joined, or with why it failed
//                                                       (worker_start_failed: status, last words)
//   (adopt_atom, int fd, string address, adopt_options) -> peer
//                                                       takes over a connected socket
//   (listen_atom, string host, uint16_t port) -> uint16_t  the bound port
//   (peers_atom)                    -> vector<peer>     the peers connected now
//   (endpoints_atom)                -> vector<string>   "host:port" of each listener
//   (subscribe_atom, caf::actor)                        peer_up for current peers, then peer_up /
//                                                       peer_down as they come and go
//   (await_atom, uint64_t peer id)  -> peer_down        once the peer's link closed (at once, with
//                                                       the reason, if it closed already)
//   (stop_atom, uint64_t peer id, caf::timespan grace) -> int
//                                                       asks a worker process it started to exit,
//                                                       SIGKILL after `grace`; its exit status
//   (shutdown_atom, caf::timespan grace) -> bool        closes listeners and links, stops the
//                                                       children; answered once none is left
//
//   from its connections (nodes/connection.hpp)
//   (node_up_atom, peer), (node_down_atom, uint64_t connection id, caf::error)
//
//   to itself
//   (reap_atom)                                         collect the exit of leaving children
//   (kill_atom, uint64_t peer id)                       a stopping child's grace is over
#pragma once

#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
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
using reap_atom = caf::atom_constant<caf::atom("reap")>;
using kill_atom = caf::atom_constant<caf::atom("kill")>;

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
  static caf::expected<peer> adopt(node& n, int fd, std::string address, adopt_options opts);
};

}  // namespace troupe::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::detail::adopt_options)
