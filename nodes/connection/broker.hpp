// connection_broker: one connection to a peer node, a CAF broker speaking troupe's wire protocol
// (the lifecycle is drawn in nodes/connection.hpp). It runs on CAF's I/O thread and owns the
// socket, the frame decoder, the handshake, heartbeats, the proxies for the peer's actors, and
// the link state it shares with them (nodes/connection/link.hpp). Its members are split by
// concern: broker.cpp (bytes, frames, envelopes, lifecycle) and spawn.cpp (the spawn protocol).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/io/broker.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>

#include "troupe/messages/errc.hpp"
#include "troupe/nodes/connection.hpp"
#include "troupe/nodes/connection/link.hpp"
#include "troupe/nodes/wire/beat_grid.hpp"
#include "troupe/nodes/wire/envelope.hpp"
#include "troupe/nodes/wire/frame.hpp"
#include "troupe/nodes/wire/handshake.hpp"
#include "troupe/nodes/wire/heartbeat_clock.hpp"
#include "troupe/nodes/wire/read_size.hpp"
#include "troupe/nodes/wire/tls.hpp"

namespace troupe::detail {

class connection_broker : public caf::io::broker {
public:
  explicit connection_broker(caf::actor_config& cfg) : caf::io::broker(cfg) {}

  const char* name() const override {
    return "troupe.connection";
  }

  caf::behavior start(caf::io::connection_handle handle, connection_config config, int fd);

private:
  using clock = std::chrono::steady_clock;

  // -- input --
  void on_bytes(const std::vector<char>& bytes);
  void hold_partial_frame(bool new_frame);
  void on_frame(const wire::frame_view& frame);
  void on_handshake_frame(const wire::frame_view& frame);
  void on_heartbeat(std::string_view body);
  void on_envelope(std::string_view body);
  void on_actor_down(std::string_view body);
  void on_spawn_request(std::string_view body);
  void on_spawn_response(std::string_view body);
  void on_goodbye(std::string_view body);
  void protocol_violation(const std::string& detail);

  // -- output --
  void write_direct(const std::vector<char>& bytes);
  void drain();
  void reject(const wire::envelope_view& env, std::optional<pending_request>& answered, errc code,
              const std::string& detail);
  void respond_error(const wire::envelope_view& env, const caf::error& err);
  // Null if the peer may not address `id` or it is gone; else valid until the read ends.
  caf::actor_control_block* find_target(caf::actor_id id);
  void spawn_remote(const std::string& type, const caf::message& args, caf::response_promise rp);

  // -- lifecycle --
  void on_established();
  void on_tick();
  void shutdown(caf::error reason, bool say_goodbye);
  void release(const caf::error& reason);

  // A timer message to this broker. Anonymous: a pending timer whose message named this broker
  // as its sender would keep a terminated broker alive until it fires.
  template <class Atom>
  void remind(caf::timespan after, Atom what) {
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(this), after, what);
  }
  // The next heartbeat tick, anonymous too, at the next instant of the process's beat grid
  // (wire/beat_grid.hpp): every link of this node ticks in the same wakeup.
  void remind_at_next_beat();
  void on_exit() override;
  caf::strong_actor_ptr proxy_for(caf::actor_id id);

  caf::io::connection_handle hdl_;
  connection_config cfg_;
  std::unique_ptr<wire::tls_session> tls_;  // null on plain links
  int fd_ = -1;                             // the socket, if known (for direct writes)
  std::shared_ptr<link_state> link_;
  wire::frame_decoder decoder_;
  wire::read_size read_size_;
  size_t partial_held_ = 0;  // this link's share of the node's partial-frame budget
  std::optional<clock::time_point> partial_since_;  // when the unfinished frame began
  std::unique_ptr<wire::handshake> handshake_;
  bool established_ = false;
  bool closing_ = false;
  peer peer_;  // id, name, node, process_id, address: known once established
  clock::time_point last_seen_;
  uint64_t heartbeat_sequence_ = 0;
  wire::heartbeat_clock heartbeats_;  // the link's round trip, from echoed heartbeats
  std::optional<wire::beat_schedule<clock>> beats_;  // from the handshake on
  caf::actor_id last_target_id_ = 0;
  caf::weak_actor_ptr last_target_;
  caf::strong_actor_ptr batch_target_;  // last_target_, held while one read is delivered
  caf::actor_id last_proxy_id_ = 0;
  caf::strong_actor_ptr last_proxy_;  // proxies_[last_proxy_id_]
  wire::inbound_types in_types_;
  std::unordered_map<caf::actor_id, caf::strong_actor_ptr> proxies_;
  std::unordered_map<uint64_t, caf::response_promise> pending_spawns_;
  uint64_t next_spawn_id_ = 1;
  std::shared_ptr<observe::link_counters> counters_;  // null unless a dashboard runs
};

/// Starts a broker on `fd` whose slot among the node's open connections is taken already
/// (link_limits::open or try_open; its on_exit frees it).
caf::actor start_connection(caf::actor_system& sys, int fd, connection_config cfg);

}  // namespace troupe::detail
