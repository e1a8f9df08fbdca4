#include "troupe/nodes/connection/broker.hpp"

#include <algorithm>

#include <caf/actor_proxy.hpp>
#include <caf/actor_registry.hpp>
#include <caf/io/middleman.hpp>
#include <caf/system_messages.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/messages/registry.hpp"
#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/connection/proxy.hpp"
#include "troupe/nodes/connection/wire_error.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/observe/observatory.hpp"

namespace troupe::detail {
namespace {

using handshake_deadline_atom = caf::atom_constant<caf::atom("hsdeadline")>;

caf::behavior connection_from_fd(connection_broker* self, int fd, connection_config cfg) {
  auto hdl = self->add_scribe(fd);
  return self->start(hdl, std::move(cfg), fd);
}

}  // namespace

caf::behavior connection_broker::start(caf::io::connection_handle handle, connection_config config,
                                       int fd) {
  hdl_ = handle;
  fd_ = fd;
  cfg_ = std::move(config);
  link_ = std::make_shared<link_state>(system(), caf::actor_cast<caf::actor>(this));
  decoder_.set_max_frame_size(wire::handshake_max_frame_size);
  handshake_ = std::make_unique<wire::handshake>(cfg_.self, cfg_.handshake);
  last_seen_ = clock::now();
  log::get().debug("{}: connection opened", cfg_.address);
  configure_read(hdl_, caf::io::receive_policy::at_most(read_size_.bytes()));
  // Every byte CAF writes is acknowledged (data_transferred_msg): the link counts them to know
  // when the socket is idle (see link_state::written).
  ack_writes(hdl_, true);
  if (cfg_.tls) {
    tls_ = std::make_unique<wire::tls_session>(*cfg_.tls,
                                               cfg_.handshake.role == wire::role::connector);
    tls_->start(wr_buf(hdl_));  // TLS links never write directly: no counting needed
    flush(hdl_);
  }
  std::vector<char> hello;
  handshake_->start(hello);
  write_direct(hello);
  remind(cfg_.handshake_timeout, handshake_deadline_atom::value);
  set_down_handler([](caf::down_msg&) {});
  return {
      [this](caf::io::new_data_msg& msg) {
        last_seen_ = clock::now();
        link_->bytes_arrived();
        if (counters_) {
          observe::link_counters::add(counters_->bytes_in, msg.buf.size());
          counters_->seen_now();
        }
        if (!tls_) {
          on_bytes(msg.buf);
        } else {
          std::vector<char> plaintext;
          bool ok = tls_->receive(msg.buf.data(), msg.buf.size(), plaintext, wr_buf(hdl_));
          flush(hdl_);
          if (!ok) {
            log::rejected("TLS", cfg_.address + ": " + tls_->error());
            shutdown(make_error(errc::auth_failed, tls_->error()), false);
            return;
          }
          on_bytes(plaintext);
        }
        batch_target_.reset();
        if (read_size_.after_read(msg.buf.size()) && !closing_)
          configure_read(hdl_, caf::io::receive_policy::at_most(read_size_.bytes()));
        drain();
      },
      [this](caf::io::connection_closed_msg&) {
        log::get().debug("{}: connection closed by the peer or the network", cfg_.address);
        shutdown(make_error(errc::node_down, "connection closed by " + cfg_.address), false);
      },
      [this](caf::io::data_transferred_msg& msg) { link_->written(msg.written); },
      [this](flush_atom) { drain(); },
      [this](tick_atom) { on_tick(); },
      [this](handshake_deadline_atom) {
        if (established_ || closing_)
          return;
        auto detail = cfg_.address + " did not complete the handshake in time";
        log::rejected("handshake", detail);
        shutdown(make_error(errc::handshake_timeout, detail), false);
      },
      [this](spawn_atom, std::string& type, caf::message& args) {
        auto rp = make_response_promise();
        spawn_remote(type, args, rp);
        return rp;
      },
      [this](close_link_atom) {
        shutdown(make_error(errc::shutdown, "closed by this node"), true);
      },
  };
}

void connection_broker::write_direct(const std::vector<char>& bytes) {
  auto& buf = wr_buf(hdl_);
  auto before = buf.size();
  if (tls_)
    tls_->send(bytes.data(), bytes.size(), buf);
  else
    buf.insert(buf.end(), bytes.begin(), bytes.end());
  link_->handed(buf.size() - before);
  flush(hdl_);
}

void connection_broker::drain() {
  if (!established_)
    return;
  if (!tls_) {
    if (link_->drain_into(wr_buf(hdl_)))
      flush(hdl_);
    return;
  }
  std::vector<char> frames;
  if (link_->drain_into(frames)) {
    tls_->send(frames.data(), frames.size(), wr_buf(hdl_));
    flush(hdl_);
  }
}

void connection_broker::on_bytes(const std::vector<char>& bytes) {
  decoder_.feed(bytes.data(), bytes.size());
  wire::frame_view frame;
  bool completed = false;  // a frame ended here: what remains buffered is a new one
  while (!closing_) {
    switch (decoder_.next(frame)) {
      case wire::frame_decoder::status::frame:
        completed = true;
        on_frame(frame);
        continue;
      case wire::frame_decoder::status::need_more:
        hold_partial_frame(completed);
        return;
      case wire::frame_decoder::status::too_large: {
        auto detail = cfg_.address + " announced a frame of "
                      + std::to_string(decoder_.announced_size()) + " bytes (limit "
                      + std::to_string(established_ ? cfg_.handshake.max_frame_size
                                                    : wire::handshake_max_frame_size)
                      + ")";
        log::rejected("oversized frame", detail);
        shutdown(make_error(errc::message_too_large, detail), true);
        return;
      }
      case wire::frame_decoder::status::malformed: {
        auto detail = cfg_.address + " sent a malformed frame header (an empty frame or an "
                                     "unknown kind)";
        log::rejected("malformed frame", detail);
        shutdown(make_error(errc::protocol_error, detail), true);
        return;
      }
    }
  }
}

// The bytes of an unfinished frame count against the node's partial-frame budget, and the
// frame must be complete within frame_timeout of its first bytes (checked on each tick).
void connection_broker::hold_partial_frame(bool new_frame) {
  auto buffered = decoder_.buffered();
  if (buffered == 0)
    partial_since_.reset();
  else if (new_frame || !partial_since_)
    partial_since_ = clock::now();
  if (!cfg_.limits || cfg_.limits->hold_partial(partial_held_, buffered))
    return;
  auto detail = cfg_.address + " would hold " + std::to_string(buffered)
                + " bytes of an unfinished frame while the node's links together hold their "
                  "budget of "
                + std::to_string(cfg_.limits->partial_frame_budget()) + " bytes";
  log::rejected("partial frame", detail);
  shutdown(make_error(errc::too_many, detail), true);
}

void connection_broker::on_frame(const wire::frame_view& frame) {
  if (counters_)
    observe::link_counters::add(counters_->frames_in, 1);
  if (!established_) {
    on_handshake_frame(frame);
    return;
  }
  switch (frame.type) {
    case wire::kind::envelope:
      on_envelope(frame.body);
      break;
    case wire::kind::heartbeat:
      on_heartbeat(frame.body);
      break;
    case wire::kind::actor_down:
      on_actor_down(frame.body);
      break;
    case wire::kind::spawn_request:
      on_spawn_request(frame.body);
      break;
    case wire::kind::spawn_response:
      on_spawn_response(frame.body);
      break;
    case wire::kind::goodbye:
      on_goodbye(frame.body);
      break;
    case wire::kind::hello:
    case wire::kind::auth: {
      auto detail = cfg_.address + " sent " + wire::to_string(frame.type) + " after the handshake";
      log::rejected("out-of-order frame", detail);
      shutdown(make_error(errc::protocol_error, detail), true);
      break;
    }
  }
}

void connection_broker::on_handshake_frame(const wire::frame_view& frame) {
  std::vector<char> out;
  auto state = handshake_->on_frame(frame, out);
  if (!out.empty())
    write_direct(out);
  if (state == wire::handshake::state::established) {
    on_established();
  } else if (state == wire::handshake::state::failed) {
    auto err = make_error(handshake_->failure_code(), handshake_->failure());
    log::rejected("handshake", cfg_.address + ": " + handshake_->failure());
    shutdown(err, false);
  }
}

void connection_broker::on_established() {
  established_ = true;
  const auto& hello = handshake_->peer();
  decoder_.set_max_frame_size(cfg_.handshake.max_frame_size);
  caf::node_id::default_data::host_id_type host{};
  const auto& host_bytes = hello.node_id().host_id();
  std::copy_n(host_bytes.begin(), std::min(host.size(), host_bytes.size()), host.begin());
  peer_.id = cfg_.connection_id;
  peer_.name = hello.node_name();
  peer_.node = caf::make_node_id(hello.node_id().process_id(), host);
  peer_.process_id = hello.node_id().process_id();
  peer_.address = cfg_.address;
  auto max_frame =
      hello.max_frame_size() > 0 ? hello.max_frame_size() : wire::default_max_frame_size;
  link_->established(max_frame);
  if (auto* obs = observe::observatory::active()) {
    counters_ = obs->link_opened(peer_.id);
    link_->count_with(counters_);
  }
  if (!tls_ && fd_ >= 0)
    link_->enable_direct_writes(fd_);
  if (tls_)
    log::get().info("connected to {} ({}, TLS peer {})", peer_.name, cfg_.address,
                    tls_->peer_subject());
  else
    log::get().info("connected to {} ({})", peer_.name, cfg_.address);
  if (cfg_.manager) {
    // The handle to this broker goes out only in the message: a member holding it would keep
    // the broker alive forever.
    auto info = peer_;
    info.connection = caf::actor_cast<caf::actor>(this);
    send(cfg_.manager, node_up_atom::value, std::move(info));
  }
  beats_.emplace(cfg_.heartbeat_interval, cfg_.handshake.role == wire::role::connector,
                 wire::process_beat_phase());
  remind_at_next_beat();
}

void connection_broker::remind_at_next_beat() {
  auto& clock = system().clock();
  auto at = beats_->next(clock.now());
  clock.schedule_message(
      at, caf::actor_cast<caf::strong_actor_ptr>(this),
      caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, tick_atom::value));
}

void connection_broker::on_tick() {
  if (closing_)
    return;
  auto silent = clock::now() - last_seen_;
  if (silent > cfg_.heartbeat_timeout) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(silent).count();
    shutdown(make_error(errc::node_down, peer_.name + " (" + cfg_.address + ") silent for "
                                             + std::to_string(ms) + " ms: heartbeat timeout"),
             false);
    return;
  }
  // Bytes trickling in count as a sign of life, but a frame must not take longer than this.
  if (partial_since_ && clock::now() - *partial_since_ > cfg_.frame_timeout) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.frame_timeout).count();
    auto detail = cfg_.address + " did not complete a frame within " + std::to_string(ms) + " ms ("
                  + std::to_string(decoder_.buffered()) + " bytes of it arrived)";
    log::rejected("slow frame", detail);
    shutdown(make_error(errc::protocol_error, detail), true);
    return;
  }
  link_->append([&](std::vector<char>& out) {
    auto now = clock::now();
    wire::Heartbeat beat;
    beat.set_sequence(++heartbeat_sequence_);
    beat.set_echo_sequence(heartbeats_.echo_sequence());
    beat.set_echo_delay_us(heartbeats_.echo_delay_us(now));
    heartbeats_.sent(heartbeat_sequence_, now);
    wire::append_frame(out, wire::kind::heartbeat, beat);
  });
  drain();
  remind_at_next_beat();
}

caf::strong_actor_ptr connection_broker::proxy_for(caf::actor_id id) {
  // Messages tend to come from one actor at a time, as they go to one (find_target).
  if (id == last_proxy_id_)
    return last_proxy_;
  auto i = proxies_.find(id);
  if (i == proxies_.end())
    i = proxies_.emplace(id, make_remote_proxy(system(), id, peer_.node, link_)).first;
  last_proxy_id_ = id;
  last_proxy_ = i->second;
  return i->second;
}

// An envelope that cannot be delivered: a request is answered with the error; a response
// gives its requester the error instead of the value it will never get.
void connection_broker::reject(const wire::envelope_view& env,
                               std::optional<pending_request>& answered, errc code,
                               const std::string& detail) {
  log::rejected(to_string(code), cfg_.address + ": " + detail);
  if (answered)
    answered->requester->enqueue(
        caf::make_mailbox_element(nullptr, answered->mid.response_id(), {},
                                  caf::make_message(make_error(code, detail))),
        context());
  else if (env.request_id != 0 && !env.is_response)
    respond_error(env, make_error(code, detail));
}

void connection_broker::respond_error(const wire::envelope_view& env, const caf::error& err) {
  if (env.sender == 0)
    return;
  link_->append([&](std::vector<char>& out) {
    wire::envelope_header h;
    h.target = env.sender;
    h.request_id = env.request_id;
    h.is_response = true;
    h.urgent = env.urgent;
    h.type_name = error_type_name();  // numbered types belong to the proxies' side
    wire::append_envelope(out, h, to_wire(err).SerializeAsString());
  });
}

void connection_broker::on_heartbeat(std::string_view body) {
  wire::Heartbeat beat;
  if (!beat.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    protocol_violation(cfg_.address + " sent a Heartbeat that does not parse");
    return;
  }
  auto now = clock::now();
  heartbeats_.received(beat.sequence(), now);
  beats_->peer_beat(now);
  if (counters_)
    if (auto rtt = heartbeats_.round_trip(beat.echo_sequence(), beat.echo_delay_us(), now))
      counters_->round_trip(*rtt);
}

void connection_broker::on_envelope(std::string_view body) {
  wire::envelope_view env;
  if (!wire::read_envelope(body, env)) {
    protocol_violation(cfg_.address + " sent an Envelope that does not parse");
    return;
  }
  // Payload type: a name binds a number on first use; later frames may carry the number only.
  // Resolved first: the binding holds even if this envelope is dropped below.
  wire::inbound_types::binding* bound = nullptr;
  auto resolved = in_types_.resolve(env, bound);
  auto rid = env.request_id & caf::message_id::request_id_mask;
  std::optional<pending_request> answered;
  if (env.is_response) {
    answered = link_->take_pending(env.target, rid);
    if (!answered) {
      log::rejected("unsolicited response",
                    cfg_.address + " answered request " + std::to_string(rid) + " of actor "
                        + std::to_string(env.target)
                        + ", which no request over this link is waiting for; dropped");
      return;
    }
  }
  if (resolved != wire::inbound_types::result::ok) {
    reject(env, answered, errc::protocol_error, wire::to_string(resolved));
    return;
  }
  std::string_view type_name = bound ? std::string_view{bound->name} : env.type_name;
  const message_codec* codec = bound ? static_cast<const message_codec*>(bound->user) : nullptr;
  if (!codec && !type_name.empty()) {
    codec = message_registry::instance().find(type_name);
    if (!codec) {
      reject(env, answered, errc::unknown_message_type,
             "payload type " + std::string{type_name} + " is not registered on this node");
      return;
    }
    if (bound)
      bound->user = codec;
  }
  caf::message_id mid;
  if (answered) {
    mid = answered->mid.response_id();
  } else {
    uint64_t category = env.urgent ? 0 : caf::message_id::default_async_value;
    mid = caf::message_id{env.request_id != 0 ? category | rid : category};
  }
  auto sender = env.sender != 0 ? proxy_for(env.sender) : nullptr;
  caf::mailbox_element_ptr element;
  if (!codec) {
    element = caf::make_mailbox_element(std::move(sender), mid, {}, caf::message{});
  } else if (env.is_response && codec->name == error_type_name()) {
    auto decoded = codec->decode(env.payload.data(), env.payload.size());
    if (decoded)
      element = caf::make_mailbox_element(std::move(sender), mid, {},
                                          from_wire(decoded->get_as<wire::Error>(0)));
  } else {
    element = codec->make_element(std::move(sender), mid, env.payload.data(), env.payload.size());
  }
  if (!element) {
    reject(env, answered, errc::corrupt_payload, "payload does not parse as " + codec->name);
    return;
  }
  auto* target = answered ? answered->requester.get() : find_target(env.target);
  if (!target) {
    // Usually a message racing its target's exit, as between local actors: not hostile.
    log::get().debug("{}: no actor {} for a {}", cfg_.address, env.target,
                     type_name.empty() ? std::string_view{"message"} : type_name);
    if (env.request_id != 0)
      respond_error(env,
                    make_error(errc::unknown_actor, "no actor " + std::to_string(env.target)
                                                        + " on this node (it may have exited)"));
    return;
  }
  target->enqueue(std::move(element), context());
}

caf::actor_control_block* connection_broker::find_target(caf::actor_id id) {
  // Traffic tends to go to one actor at a time: remember the last one (weakly, so as not to
  // keep it alive), instead of asking the registry for every message; and hold it for the rest
  // of this read (batch_target_), instead of upgrading the weak reference for every message.
  if (id == last_target_id_) {
    if (!batch_target_)
      batch_target_ = last_target_.lock();
    if (batch_target_)
      return batch_target_.get();
  }
  // Only an actor the peer was told of over this link: an id learned elsewhere, or guessed,
  // reaches nothing.
  if (!link_->exported(id))
    return nullptr;
  batch_target_ = system().registry().get(id);
  last_target_id_ = id;
  last_target_ = caf::actor_cast<caf::weak_actor_ptr>(batch_target_);
  return batch_target_.get();
}

void connection_broker::on_actor_down(std::string_view body) {
  wire::ActorDown down;
  if (!down.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    protocol_violation(cfg_.address + " sent an ActorDown that does not parse");
    return;
  }
  auto i = proxies_.find(down.actor());
  if (i == proxies_.end())
    return;
  auto proxy = std::move(i->second);
  proxies_.erase(i);
  if (last_proxy_id_ == down.actor()) {
    last_proxy_id_ = 0;
    last_proxy_.reset();
  }
  static_cast<caf::actor_proxy*>(proxy->get())->kill_proxy(context(), from_wire(down.reason()));
}

void connection_broker::on_goodbye(std::string_view body) {
  wire::Goodbye bye;
  bye.ParseFromArray(body.data(), static_cast<int>(body.size()));
  log::get().info("{} ({}) said goodbye: {}", peer_.name, cfg_.address, bye.reason());
  auto code = bye.code() == 0 ? errc::node_down : errc_from_wire(bye.code());
  shutdown(make_error(code, peer_.name + " left: " + bye.reason()), false);
}

// A frame that breaks the protocol ends the link (docs/protocol.md): nothing after it can be
// trusted to mean what the peer meant.
void connection_broker::protocol_violation(const std::string& detail) {
  log::rejected("malformed frame", detail);
  shutdown(make_error(errc::protocol_error, detail), true);
}

void connection_broker::shutdown(caf::error reason, bool say_goodbye) {
  if (closing_)
    return;
  release(reason);
  if (say_goodbye) {
    wire::Goodbye bye;
    bye.set_code(reason.category() == error_category ? reason.code() : 0);
    bye.set_reason(describe(reason));
    std::vector<char> out;
    wire::append_frame(out, wire::kind::goodbye, bye);
    write_direct(out);  // closing the socket is graceful: pending bytes leave before the FIN
  }
  quit(reason);
}

void connection_broker::on_exit() {
  // Terminated from outside (an exit message, the actor system going down): still fail what
  // waits on this link, and break the link state's reference back to this broker.
  if (!closing_)
    release(make_error(errc::node_down, "the connection to " + cfg_.address + " was shut down"));
  if (cfg_.limits) {
    cfg_.limits->hold_partial(partial_held_, 0);
    cfg_.limits->closed();
  }
  caf::io::broker::on_exit();
}

void connection_broker::release(const caf::error& reason) {
  closing_ = true;
  if (established_)
    log::get().info("connection to {} ({}) closed: {}", peer_.name, cfg_.address, describe(reason));
  for (auto& req : link_->close()) {
    auto err =
        make_error(errc::node_down, "the node hosting the actor was lost: " + describe(reason));
    req.requester->enqueue(caf::make_mailbox_element(nullptr, req.mid.response_id(), {},
                                                     caf::make_message(std::move(err))),
                           context());
  }
  for (auto& kv : proxies_)
    static_cast<caf::actor_proxy*>(kv.second->get())->kill_proxy(context(), reason);
  proxies_.clear();
  last_proxy_id_ = 0;
  last_proxy_.reset();
  for (auto& kv : pending_spawns_)
    kv.second.deliver(reason);
  pending_spawns_.clear();
  // They served this peer only, and nobody can reach them now.
  for (auto& weak : link_->take_spawned())
    if (auto actor = weak.lock())
      send_exit(caf::actor_cast<caf::actor>(actor), reason);
  if (cfg_.manager)
    send(cfg_.manager, node_down_atom::value, cfg_.connection_id, reason);
}

caf::actor start_connection(caf::actor_system& sys, int fd, connection_config cfg) {
  return sys.middleman().spawn_broker(connection_from_fd, fd, std::move(cfg));
}

caf::actor spawn_connection(caf::actor_system& sys, int fd, connection_config cfg) {
  if (cfg.limits)
    cfg.limits->open();
  return start_connection(sys, fd, std::move(cfg));
}

}  // namespace troupe::detail
