// One connection to a peer node: a CAF broker speaking troupe's wire protocol (internal).
//
// The broker owns the socket, the frame decoder, the handshake, heartbeats, and the proxies
// that stand for the peer's actors here. Local actors talk to remote ones through those
// proxies: a proxy encodes a message straight into the connection's outbox (on the sender's
// thread) and wakes the broker only when the outbox was empty, so a burst of messages leaves in
// one write. Lifecycle:
//
//   [handshaking] --Hello/Auth ok--> [established] --EOF, error, Goodbye, heartbeat timeout,
//        |                                              or close--> [closed]
//        +--deadline, refusal, bad frame------------------------------> [closed]
//
// On close every request still waiting for the peer fails at once with errc::node_down, every
// proxy terminates (monitors see down_msg), every actor spawned for the peer is sent an exit,
// and the node manager hears node_down.
//
// A peer is trusted with its own link only: a response is delivered only if a request went out
// over this link to it (the link's table of pending requests names the receiver, not the actor
// registry), and it can address only the actors made known to it over this link.
//
// The parts live in nodes/connection/: broker (this lifecycle), link (what the broker shares with
// the proxies, and which thread touches what), proxy, spawn, listener, wire_error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/node_id.hpp>

#include "troupe/messages/error.hpp"
#include "troupe/nodes/link_limits.hpp"
#include "troupe/nodes/node.hpp"
#include "troupe/nodes/wire/handshake.hpp"
#include "troupe/nodes/wire/tls.hpp"

namespace troupe::detail {

// The connection's message protocol, all of it (local messages; what crosses the wire is in
// docs/protocol.md):
//
//   to a connection (from the node's manager, the process pool)
//   (spawn_atom, string type, caf::message args) -> caf::actor
//                                      spawns `type` on the peer; the actor is a proxy here.
//                                      Errors: node_down, unknown_actor_type, not_serializable,
//                                      too_many, and the peer's own
//   (close_link_atom)                  closes the link, telling the peer why (Goodbye with
//                                      errc::shutdown); an exit message closes it without a word
//
//   from a connection, to connection_config::manager
//   (node_up_atom, peer)               the handshake succeeded; peer.connection is the connection
//   (node_down_atom, uint64_t connection_id, caf::error reason)
//                                      closed for good (also when the handshake failed); sent
//                                      once, after node_up if there was one
//
//   inside a connection: flush_atom (a proxy left frames in the outbox), tick_atom (heartbeats
//   and deadlines), the handshake's deadline
//
//   to a listener (spawn_listener)
//   (close_listener_atom)              stops accepting and closes the listening socket, as an
//                                      exit message does; connections it accepted stay
using node_up_atom = caf::atom_constant<caf::atom("nodeup")>;
using node_down_atom = caf::atom_constant<caf::atom("nodedown")>;
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using close_link_atom = caf::atom_constant<caf::atom("closelink")>;
using close_listener_atom = caf::atom_constant<caf::atom("closelstn")>;

struct connection_config {
  uint64_t connection_id = 0;
  std::string address;  // for logs and peer_info
  wire::identity self;
  wire::handshake_options handshake;
  caf::timespan handshake_timeout = std::chrono::seconds{5};
  caf::timespan heartbeat_interval = std::chrono::milliseconds{500};
  caf::timespan heartbeat_timeout = std::chrono::seconds{3};
  /// A frame whose first bytes arrived must be complete this much later (no trickling).
  caf::timespan frame_timeout = std::chrono::seconds{10};
  /// Live actors the peer may have spawned here; SpawnRequests beyond get errc::too_many.
  size_t max_spawned = 1024;
  /// The node's connection count and partial-frame budget; null: unlimited (tests).
  std::shared_ptr<link_limits> limits;
  /// Receives (node_up_atom, peer) and (node_down_atom, connection_id, caf::error).
  caf::actor manager;
  /// Set for TLS links: the TLS handshake runs first, then troupe's inside it.
  std::shared_ptr<wire::tls_context> tls;
};

/// Takes ownership of a connected socket (socketpair end or TCP) and starts the handshake. It
/// counts as one of the node's open connections (cfg.limits), never refused.
caf::actor spawn_connection(caf::actor_system& sys, int fd, connection_config cfg);

/// Listens on host:port (port 0 picks one). Each accepted socket gets a connection made from
/// make_config(), unless the node has its limits' max_connections open: then it is refused with
/// a Goodbye (errc::too_many). Accept errors such as the descriptor limit pause accepting for a
/// while (100 ms, doubling up to 1 s) instead of retrying at once. Returns the listener (an
/// actor: an exit stops it) and the bound port.
caf::expected<std::pair<caf::actor, uint16_t>> spawn_listener(
    caf::actor_system& sys, const std::string& host, uint16_t port,
    std::function<connection_config(const std::string& remote)> make_config);

}  // namespace troupe::detail
