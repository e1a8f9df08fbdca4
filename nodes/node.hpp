// troupe::node: this process as a member of a cluster of nodes.
//
// A node connects to peer nodes over socketpairs (worker processes it starts itself, the
// "pipes" of the tutorial) or TCP (nodes on other hosts), all speaking troupe's wire protocol.
// Actors on a peer are reached through ordinary caf::actor handles: send, request, monitor.
//
//   troupe::node node{sys, opts};
//   auto worker = node.start_worker();                       // a child process of this program
//   auto echo = node.spawn_on(*worker, "echo");              // spawn by registered name
//   self->request(*echo, 5s, ping).receive(...);
//
// Guarantees: a worker process started here dies with this process (PR_SET_PDEATHSIG and EOF
// on its socket); a peer that stops answering is declared down after heartbeat_timeout; when a
// peer is lost, requests waiting for it fail at once with errc::node_down and monitors of its
// actors receive down_msg. Listening on a non-loopback address needs credentials.
//
// The member functions block until the node answers: do not call them from inside an actor (it
// would hold one of the scheduler's threads). Failures come back as caf::expected errors; only
// the queries peers() and endpoints(), which have no error to return, throw node_error.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>
#include <caf/node_id.hpp>

#include "troupe/nodes/wire/frame.hpp"
#include "troupe/nodes/wire/tls.hpp"

namespace troupe {

namespace detail {
struct node_access;
}  // namespace detail

using namespace std::chrono_literals;

struct node_options {
  std::string name = "node";  // shown in logs and to peers
  std::string secret;         // cluster secret for TCP links; empty: no authentication
  wire::tls_options tls;      // certificates for TCP links; empty: plain TCP
  size_t max_frame_size = wire::default_max_frame_size;
  std::chrono::milliseconds heartbeat_interval = 500ms;
  std::chrono::milliseconds heartbeat_timeout = 3000ms;  // silent longer: declared down
  std::chrono::milliseconds handshake_timeout = 5000ms;
  // A child this node started must complete its handshake within this: its bound includes
  // starting the process, which a loaded machine does slowly (5 s was seen to run out).
  std::chrono::milliseconds child_start_timeout = 30000ms;
  // What peers can make this node hold (docs/protocol.md, "Limits"):
  size_t max_connections = 256;  // links open at once; TCP connections beyond are refused
  size_t partial_frame_budget = 64 * 1024 * 1024;     // bytes of unfinished frames, all links
  std::chrono::milliseconds frame_timeout = 10000ms;  // a begun frame must be complete by then
  size_t max_spawned_per_link = 1024;                 // live actors one peer may have spawned here
  std::string log_level = "warn";                     // passed on to worker processes
  std::vector<std::string> worker_args;               // extra arguments for worker processes
};

/// A peer node, as seen from this node.
struct peer {
  uint64_t id = 0;  // unique among this node's connections, never reused
  std::string name;
  caf::node_id node;
  uint32_t process_id = 0;
  std::string address;  // "child pid 42", "tcp 10.1.2.3:41234"
  bool child = false;   // a worker process this node started
  caf::actor connection;
};

/// Sent to subscribers (node::subscribe) when a peer joins or is lost.
struct peer_up {
  troupe::peer peer;
};
struct peer_down {
  troupe::peer peer;
  caf::error reason;
};

/// Thrown by node's queries (peers, endpoints), which have no error to return, when the node's
/// manager actor does not answer within 10 s: the actor system is going down, or the node is
/// stuck. Not a condition to retry: the node cannot be used any more. Calls that can fail in
/// ordinary use (start_worker, connect, spawn_on, ...) return caf::expected instead.
class node_error : public std::runtime_error {
public:
  explicit node_error(caf::error err);
  const caf::error& error() const noexcept {
    return error_;
  }

private:
  caf::error error_;
};

class node {
public:
  node(caf::actor_system& sys, node_options opts);

  /// Closes every connection and stops the worker processes this node started.
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  caf::actor_system& system() const noexcept {
    return sys_;
  }
  const node_options& options() const noexcept {
    return opts_;
  }

  /// Starts a worker process of this program, connected over a socketpair; returns once it has
  /// completed the handshake.
  caf::expected<peer> start_worker(std::chrono::milliseconds timeout = 10s);

  /// Listens for nodes joining over TCP. Port 0 picks a free port; returns the bound port.
  /// Binding a non-loopback address without a cluster secret is refused.
  caf::expected<uint16_t> listen(const std::string& host, uint16_t port);

  /// Connects to a node listening on host:port, retrying with backoff until `timeout`.
  caf::expected<peer> connect(const std::string& host, uint16_t port,
                              std::chrono::milliseconds timeout = 10s);

  /// The peers connected now. Throws node_error if the node's manager does not answer.
  std::vector<peer> peers() const;

  /// Where this node listens for worker nodes ("host:port" each); empty if it does not. Throws
  /// node_error if the node's manager does not answer.
  std::vector<std::string> endpoints() const;

  /// Spawns an actor registered under `type` (caf::actor_system_config::add_actor_type) on the
  /// peer; `args` is empty or one registered Protobuf message. Unknown types are an error.
  caf::expected<caf::actor> spawn_on(const peer& where, const std::string& type,
                                     caf::message args = {},
                                     std::chrono::milliseconds timeout = 10s);

  /// Delivers peer_up / peer_down to `listener`; it first receives peer_up for current peers.
  void subscribe(const caf::actor& listener);

  /// Asks a worker process started by this node to exit and waits for it; returns its exit
  /// status (or 128 + signal).
  caf::expected<int> stop_worker(const peer& worker, std::chrono::milliseconds timeout = 10s);

  /// Blocks until the connection to `p` is closed (by either side) or `timeout` passes;
  /// returns the reason, or nullopt on timeout.
  std::optional<caf::error> await_down(const peer& p, std::chrono::milliseconds timeout);

  /// The path of this program, exec'd for worker processes.
  static const std::string& executable();

private:
  friend struct detail::node_access;  // nodes/node_protocol.hpp

  caf::actor_system& sys_;
  node_options opts_;
  caf::actor manager_;
  std::string tls_error_;  // why the TLS settings cannot be used, if they cannot
};

}  // namespace troupe

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::peer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<troupe::peer>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::peer_up)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::peer_down)
