#include "troupe/nodes/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <typeindex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/actor_proxy.hpp>
#include <caf/actor_registry.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/make_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/messages/registry.hpp"
#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/wire/envelope.hpp"

namespace troupe::detail {
namespace {

using handshake_deadline_atom = caf::atom_constant<caf::atom("hsdeadline")>;

constexpr size_t read_chunk = 64 * 1024;

// -- errors on the wire -------------------------------------------------------------------------

wire::Error to_wire(const caf::error& err) {
  wire::Error out;
  out.set_code(err.code());
  out.set_category(to_string(err.category()));
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    out.set_message(ctx.get_as<std::string>(0));
  else if (!ctx.empty())
    out.set_message(to_string(ctx));
  return out;
}

caf::error from_wire(const wire::Error& err) {
  if (err.code() == 0)
    return caf::error{};
  auto category = caf::atom_from_string(err.category());
  if (err.message().empty())
    return caf::error{static_cast<uint8_t>(err.code()), category};
  return caf::error{static_cast<uint8_t>(err.code()), category, caf::make_message(err.message())};
}

const std::string& error_type_name() {
  return protobuf_name<wire::Error>();
}

// -- state shared by a connection's broker and its proxies --------------------------------------

struct request_key {
  caf::actor_id requester;
  uint64_t request_id;
  bool operator==(const request_key& other) const {
    return requester == other.requester && request_id == other.request_id;
  }
};

struct request_key_hash {
  size_t operator()(const request_key& k) const {
    return std::hash<uint64_t>{}(k.requester * 0x9E3779B97F4A7C15ull ^ k.request_id);
  }
};

struct pending_request {
  caf::strong_actor_ptr requester;
  caf::message_id mid;
};

enum class send_status { sent, closed, not_serializable, too_large };

class remote_proxy;

// Everything a sender thread touches lives here, behind one mutex: the outbox, the numbering of
// payload types (which must follow the order frames are appended), the requests in flight (for
// failing them fast), and which local actors the peer knows (to tell it when they terminate).
class link_state : public std::enable_shared_from_this<link_state> {
public:
  link_state(caf::actor_system& sys, const caf::actor& broker)
    : sys_(sys), broker_(caf::actor_cast<caf::weak_actor_ptr>(broker)) {
  }

  caf::actor_system& system() {
    return sys_;
  }

  void established(size_t peer_max_frame, caf::node_id peer) {
    std::lock_guard<std::mutex> guard{mtx_};
    peer_max_frame_ = peer_max_frame;
    peer_node_ = std::move(peer);
  }

  const caf::node_id& peer_node() const {
    return peer_node_;
  }

  // Encodes one message from a local sender into the outbox. The sender becomes known to the
  // peer (export_actor) the first time it sends here.
  send_status send(const wire::envelope_header& proto_header, const caf::type_erased_tuple& content,
                   const caf::strong_actor_ptr& sender, caf::message_id mid,
                   std::string& problem) {
    caf::actor to_wake;
    send_status status;
    bool first_from_sender = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        return send_status::closed;
      status = encode(proto_header, content, problem);
      if (status != send_status::sent)
        return status;
      if (sender) {
        first_from_sender = exported_.insert(sender->id()).second;
        // Findable before the message can leave: an answer may come back at once.
        if (first_from_sender)
          sys_.registry().put(sender->id(), sender);
        if (mid.is_request())
          pending_.emplace(request_key{sender->id(), mid.request_id().integer_value()},
                           pending_request{sender, mid});
      }
      to_wake = push_locked();
    }
    if (first_from_sender)
      watch(sender);
    if (to_wake)
      caf::anon_send(to_wake, flush_atom::value);
    return status;
  }

  // Appends a control frame built by `write` (any thread). False once closed.
  template <class Write>
  bool append(Write write) {
    caf::actor to_wake;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        return false;
      write(outbox_);
      to_wake = push_locked();
    }
    if (to_wake)
      caf::anon_send(to_wake, flush_atom::value);
    return true;
  }

  // Moves the outbox into `dst` (the socket's write buffer). Broker thread only.
  bool drain_into(std::vector<char>& dst) {
    std::lock_guard<std::mutex> guard{mtx_};
    wakeup_pending_ = false;
    if (outbox_.empty())
      return false;
    socket_idle_ = false;  // CAF holds bytes for the socket now
    handed_ += outbox_.size();
    if (dst.empty())
      dst.swap(outbox_);
    else
      dst.insert(dst.end(), outbox_.begin(), outbox_.end());
    outbox_.clear();
    return true;
  }

  // The response to a request arrived: it no longer needs failing on close.
  void answered(caf::actor_id requester, uint64_t request_id) {
    std::lock_guard<std::mutex> guard{mtx_};
    pending_.erase(request_key{requester, request_id});
  }

  // Closes the link; returns the requests that will never be answered now.
  std::vector<pending_request> close() {
    std::lock_guard<std::mutex> guard{mtx_};
    closed_ = true;
    socket_idle_ = false;
    if (direct_fd_ >= 0) {
      ::close(direct_fd_);
      direct_fd_ = -1;
    }
    broker_.reset();
    std::vector<pending_request> result;
    result.reserve(pending_.size());
    for (auto& kv : pending_)
      result.push_back(std::move(kv.second));
    pending_.clear();
    outbox_.clear();
    return result;
  }

  // Makes a local actor reachable by the peer: it can be found by id, and its termination is
  // reported to the peer (ActorDown) so that the peer's proxy and monitors learn of it.
  void export_actor(const caf::strong_actor_ptr& actor);

private:
  // The second half of export_actor, outside the lock (attaching may run the functor at once).
  void watch(const caf::strong_actor_ptr& actor);

public:
  // Plain links only: lets senders write to the socket themselves while CAF has nothing to
  // write for it, saving the wake-up of the I/O thread per message when traffic is light.
  // `fd` is duplicated: CAF may close its own descriptor at any time, and a number it frees can
  // be reused for another socket.
  void enable_direct_writes(int fd) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_ || direct_fd_ >= 0)
      return;
    direct_fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  }

  // The broker gave CAF bytes for the socket other than the outbox (handshake, Goodbye).
  void handed(size_t n) {
    std::lock_guard<std::mutex> guard{mtx_};
    socket_idle_ = false;
    handed_ += n;
  }

  // CAF wrote n bytes (broker thread, ack_writes on). Counting rather than trusting "nothing
  // remains": that report may be stale by the time the broker reads it, with newer bytes
  // handed to CAF since, and a direct write then would overtake them.
  void written(size_t n) {
    std::lock_guard<std::mutex> guard{mtx_};
    written_ += n;
    if (direct_fd_ >= 0 && written_ == handed_ && outbox_.empty())
      socket_idle_ = true;
  }

  ~link_state() {
    if (direct_fd_ >= 0)
      ::close(direct_fd_);
  }

private:
  // After appending to the outbox: write it at once if the socket is idle and traffic light,
  // else hand it to the broker (returns the broker to wake, if it needs waking). Under load the
  // broker's batches win (one write for many frames), so a sender writes itself at most once
  // per direct_write_gap.
  caf::actor push_locked() {
    auto now = std::chrono::steady_clock::now();
    if (socket_idle_ && now - last_direct_write_ >= direct_write_gap) {
      last_direct_write_ = now;
      auto n = ::send(direct_fd_, outbox_.data(), outbox_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(outbox_.size())) {
        outbox_.clear();
        return nullptr;
      }
      if (n > 0)
        outbox_.erase(outbox_.begin(), outbox_.begin() + n);
      socket_idle_ = false;  // the rest, and what follows, goes through the broker
    }
    return wake_locked();
  }

  caf::actor wake_locked() {
    if (wakeup_pending_)
      return nullptr;
    auto broker = caf::actor_cast<caf::actor>(broker_.lock());
    if (broker)
      wakeup_pending_ = true;
    return broker;
  }

  void actor_down(caf::actor_id id, const caf::error& reason) {
    append([&](std::vector<char>& out) {
      wire::ActorDown down;
      down.set_actor(id);
      if (reason)
        *down.mutable_reason() = to_wire(reason);
      wire::append_frame(out, wire::kind::actor_down, down);
    });
    std::lock_guard<std::mutex> guard{mtx_};
    exported_.erase(id);
  }

  send_status encode(wire::envelope_header h, const caf::type_erased_tuple& content,
                     std::string& problem) {
    if (content.empty()) {
      wire::append_envelope(outbox_, h, std::string_view{});
      return send_status::sent;
    }
    if (content.size() != 1) {
      problem = "a message of " + std::to_string(content.size())
                + " values (only one Protobuf message crosses nodes): " + content.stringify();
      return send_status::not_serializable;
    }
    if (content.match_element<caf::error>(0)) {
      auto err = to_wire(*static_cast<const caf::error*>(content.get(0)));
      h.type_name = error_type_name();  // errors are rare: always named, never numbered
      return append_checked(h, err, problem);
    }
    auto* known = out_type(content.type(0).second);
    if (!known) {
      problem = "type of " + content.stringify()
                + " is not a registered Protobuf message (troupe::config::add_messages)";
      return send_status::not_serializable;
    }
    h.type_id = known->id;
    if (!known->declared)
      h.type_name = known->codec->name;  // the first frame of a type binds its number
    auto status = append_checked(h, known->codec->view(content.get(0)), problem);
    if (status == send_status::sent)
      known->declared = true;
    return status;
  }

  struct outgoing_type {
    const message_codec* codec;
    uint32_t id;
    bool declared;  // a frame with its name went out
  };

  // Keyed by the type_info's address: no hashing of type names per message. Should a type have
  // two type_info objects, it merely gets two numbers.
  outgoing_type* out_type(const std::type_info* type) {
    if (!type)
      return nullptr;
    auto i = out_types_.find(type);
    if (i != out_types_.end())
      return &i->second;
    const auto* codec = message_registry::instance().find(std::type_index{*type});
    if (!codec)
      return nullptr;
    return &out_types_.emplace(type, outgoing_type{codec, next_type_id_++, false}).first->second;
  }

  send_status append_checked(const wire::envelope_header& h,
                             const google::protobuf::MessageLite& payload, std::string& problem) {
    auto payload_size = payload.ByteSizeLong();
    auto size = wire::envelope_frame_size(h, payload_size);
    if (size > peer_max_frame_) {
      problem = payload.GetTypeName() + " of " + std::to_string(size)
                + " bytes exceeds the peer's frame limit of " + std::to_string(peer_max_frame_);
      return send_status::too_large;
    }
    wire::append_envelope_sized(outbox_, h, payload, payload_size);
    return send_status::sent;
  }

  caf::actor_system& sys_;
  std::mutex mtx_;
  // Weak: the broker owns this state; a strong handle back would keep both alive forever.
  caf::weak_actor_ptr broker_;
  int direct_fd_ = -1;        // our duplicate of the socket (plain links), or -1
  bool socket_idle_ = false;  // CAF holds no unwritten bytes: senders may write directly
  std::chrono::steady_clock::time_point last_direct_write_{};
  uint64_t handed_ = 0;   // bytes given to CAF for the socket
  uint64_t written_ = 0;  // bytes CAF reported written
  static constexpr auto direct_write_gap = std::chrono::microseconds{20};
  std::vector<char> outbox_;
  bool wakeup_pending_ = false;
  bool closed_ = false;
  size_t peer_max_frame_ = wire::default_max_frame_size;
  caf::node_id peer_node_;
  std::unordered_map<const std::type_info*, outgoing_type> out_types_;
  uint32_t next_type_id_ = 1;
  std::unordered_map<request_key, pending_request, request_key_hash> pending_;
  std::unordered_set<caf::actor_id> exported_;
};

// -- proxies --------------------------------------------------------------------------------------

// A remote actor, here. Messages to it are encoded on the sender's thread into the link's
// outbox. Links and monitors stay local: a proxy terminates (and its monitors fire) when the
// remote actor terminates or its node is lost.
class remote_proxy final : public caf::actor_proxy {
public:
  remote_proxy(caf::actor_config& cfg, std::shared_ptr<link_state> link)
    : actor_proxy(cfg), link_(std::move(link)) {
  }

  const char* name() const override {
    return "troupe.remote_proxy";
  }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    auto& content = what->content();
    if (content.match_elements<caf::exit_msg>() || content.match_elements<caf::down_msg>())
      return;
    auto mid = what->mid;
    wire::envelope_header h;
    h.target = id();
    h.request_id = mid.is_async() ? 0 : mid.request_id().integer_value();
    h.is_response = mid.is_response();
    h.urgent = mid.is_urgent_message();
    caf::strong_actor_ptr sender = what->sender;
    if (sender && typeid(*sender->get()) == typeid(remote_proxy)) {
      // An actor of a third node: troupe does not route between nodes, so the peer could not
      // answer it. Deliver anonymously rather than misaddressed.
      sender = nullptr;
    }
    if (sender)
      h.sender = sender->id();
    std::string problem;
    switch (link_->send(h, content, sender, mid, problem)) {
      case send_status::sent:
        return;
      case send_status::closed:
        reply_error(*what, make_error(errc::node_down, "connection to the actor's node is closed"));
        return;
      case send_status::not_serializable:
        log::get().error("cannot send to remote actor {}: {}", id(), problem);
        reply_error(*what, make_error(errc::not_serializable, problem));
        return;
      case send_status::too_large:
        log::get().error("refused to send to remote actor {}: {}", id(), problem);
        reply_error(*what, make_error(errc::message_too_large, problem));
        return;
    }
  }

  void kill_proxy(caf::execution_unit* ctx, caf::error reason) override {
    cleanup(std::move(reason), ctx);
  }

private:
  // A request that cannot be sent is answered with the reason (CAF's bounce() would always
  // say request_receiver_down); a one-way message is logged above.
  static void reply_error(const caf::mailbox_element& what, caf::error err) {
    if (what.sender && what.mid.is_request())
      what.sender->enqueue(nullptr, what.mid.response_id(), caf::make_message(std::move(err)),
                           nullptr);
  }

  std::shared_ptr<link_state> link_;
};

void link_state::export_actor(const caf::strong_actor_ptr& actor) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_ || !exported_.insert(actor->id()).second)
      return;
  }
  watch(actor);
}

void link_state::watch(const caf::strong_actor_ptr& actor) {
  sys_.registry().put(actor->id(), actor);
  std::weak_ptr<link_state> weak = shared_from_this();
  auto id = actor->id();
  actor->get()->attach_functor([weak, id](const caf::error& reason) {
    if (auto link = weak.lock())
      link->actor_down(id, reason);
  });
}

// -- the broker -----------------------------------------------------------------------------------

class connection_broker : public caf::io::broker {
public:
  explicit connection_broker(caf::actor_config& cfg) : caf::io::broker(cfg) {
  }

  const char* name() const override {
    return "troupe.connection";
  }

  caf::behavior start(caf::io::connection_handle handle, connection_config config, int fd);

private:
  using clock = std::chrono::steady_clock;

  // -- input --
  void on_bytes(const std::vector<char>& bytes);
  void on_frame(const wire::frame_view& frame);
  void on_handshake_frame(const wire::frame_view& frame);
  void on_envelope(std::string_view body);
  void on_actor_down(std::string_view body);
  void on_spawn_request(std::string_view body);
  void on_spawn_response(std::string_view body);
  void on_goodbye(std::string_view body);

  // -- output --
  void write_direct(const std::vector<char>& bytes);
  void drain();
  void reject(const wire::envelope_view& env, errc code, const std::string& detail);
  void respond_error(const wire::envelope_view& env, const caf::error& err);
  caf::strong_actor_ptr find_target(caf::actor_id id);
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
  void on_exit() override;
  caf::strong_actor_ptr proxy_for(caf::actor_id id);

  caf::io::connection_handle hdl_;
  connection_config cfg_;
  std::unique_ptr<wire::tls_session> tls_;  // null on plain links
  int fd_ = -1;                              // the socket, if known (for direct writes)
  std::shared_ptr<link_state> link_;
  wire::frame_decoder decoder_;
  std::unique_ptr<wire::handshake> handshake_;
  bool established_ = false;
  bool closing_ = false;
  peer_info peer_;
  clock::time_point last_seen_;
  uint64_t heartbeat_sequence_ = 0;
  caf::actor_id last_target_id_ = 0;
  caf::weak_actor_ptr last_target_;
  wire::inbound_types in_types_;
  std::unordered_map<caf::actor_id, caf::strong_actor_ptr> proxies_;
  std::unordered_map<uint64_t, caf::response_promise> pending_spawns_;
  uint64_t next_spawn_id_ = 1;
};

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
  configure_read(hdl_, caf::io::receive_policy::at_most(read_chunk));
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
    [this](close_atom) { shutdown(make_error(errc::shutdown, "closed by this node"), true); },
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
  while (!closing_) {
    switch (decoder_.next(frame)) {
      case wire::frame_decoder::status::frame:
        on_frame(frame);
        continue;
      case wire::frame_decoder::status::need_more:
        return;
      case wire::frame_decoder::status::too_large: {
        auto detail = cfg_.address + " announced a frame of " +
                      std::to_string(decoder_.announced_size()) + " bytes (limit " +
                      std::to_string(established_ ? cfg_.handshake.max_frame_size
                                                  : wire::handshake_max_frame_size) +
                      ")";
        log::rejected("oversized frame", detail);
        shutdown(make_error(errc::message_too_large, detail), true);
        return;
      }
      case wire::frame_decoder::status::malformed: {
        auto detail = cfg_.address + " sent a malformed frame header";
        log::rejected("malformed frame", detail);
        shutdown(make_error(errc::protocol_error, detail), true);
        return;
      }
    }
  }
}

void connection_broker::on_frame(const wire::frame_view& frame) {
  if (!established_) {
    on_handshake_frame(frame);
    return;
  }
  switch (frame.type) {
    case wire::kind::envelope:
      on_envelope(frame.body);
      break;
    case wire::kind::heartbeat:
      break;  // any bytes count as a sign of life
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
  peer_.connection_id = cfg_.connection_id;
  peer_.name = hello.node_name();
  peer_.node = caf::make_node_id(hello.node_id().process_id(), host);
  peer_.process_id = hello.node_id().process_id();
  peer_.address = cfg_.address;
  auto max_frame = hello.max_frame_size() > 0 ? hello.max_frame_size()
                                             : wire::default_max_frame_size;
  link_->established(max_frame, peer_.node);
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
  remind(cfg_.heartbeat_interval, tick_atom::value);
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
  link_->append([&](std::vector<char>& out) {
    wire::Heartbeat beat;
    beat.set_sequence(++heartbeat_sequence_);
    wire::append_frame(out, wire::kind::heartbeat, beat);
  });
  drain();
  remind(cfg_.heartbeat_interval, tick_atom::value);
}

caf::strong_actor_ptr connection_broker::proxy_for(caf::actor_id id) {
  auto i = proxies_.find(id);
  if (i != proxies_.end())
    return i->second;
  caf::actor_config proxy_cfg;
  auto proxy = caf::make_actor<remote_proxy, caf::strong_actor_ptr>(id, peer_.node, &system(),
                                                                    proxy_cfg, link_);
  proxies_.emplace(id, proxy);
  return proxy;
}

void connection_broker::reject(const wire::envelope_view& env, errc code,
                               const std::string& detail) {
  log::rejected(to_string(code), cfg_.address + ": " + detail);
  if (env.request_id != 0 && !env.is_response)
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

void connection_broker::on_envelope(std::string_view body) {
  wire::envelope_view env;
  if (!wire::read_envelope(body, env)) {
    auto detail = cfg_.address + " sent an Envelope that does not parse";
    log::rejected("malformed envelope", detail);
    shutdown(make_error(errc::protocol_error, detail), true);
    return;
  }
  // Payload type: a name binds a number on first use; later frames may carry the number only.
  wire::inbound_types::binding* bound = nullptr;
  auto resolved = in_types_.resolve(env, bound);
  if (resolved != wire::inbound_types::result::ok) {
    reject(env, errc::protocol_error, wire::to_string(resolved));
    return;
  }
  std::string_view type_name = bound ? std::string_view{bound->name} : env.type_name;
  const message_codec* codec = bound ? static_cast<const message_codec*>(bound->user) : nullptr;
  if (!codec && !type_name.empty()) {
    codec = message_registry::instance().find(type_name);
    if (!codec) {
      reject(env, errc::unknown_message_type,
             "payload type " + std::string{type_name} + " is not registered on this node");
      return;
    }
    if (bound)
      bound->user = codec;
  }
  uint64_t category = env.urgent ? 0 : caf::message_id::default_async_value;
  caf::message_id mid{category};
  if (env.request_id != 0) {
    auto rid = env.request_id & caf::message_id::request_id_mask;
    mid = caf::message_id{category | rid
                          | (env.is_response ? caf::message_id::response_flag_mask : 0)};
    if (env.is_response)
      link_->answered(env.target, rid);
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
    reject(env, errc::corrupt_payload, "payload does not parse as " + codec->name);
    return;
  }
  auto target = find_target(env.target);
  if (!target) {
    // Usually a message racing its target's exit, as between local actors: not hostile.
    log::get().debug("{}: no actor {} for a {}", cfg_.address, env.target,
                     type_name.empty() ? std::string_view{"message"} : type_name);
    if (env.request_id != 0 && !env.is_response)
      respond_error(env, make_error(errc::unknown_actor, "no actor " + std::to_string(env.target)
                                                           + " on this node (it may have exited)"));
    return;
  }
  target->enqueue(std::move(element), context());
}

caf::strong_actor_ptr connection_broker::find_target(caf::actor_id id) {
  // Traffic tends to go to one actor at a time: remember the last one (weakly, so as not to
  // keep it alive), instead of asking the registry for every message.
  if (id == last_target_id_)
    if (auto target = last_target_.lock())
      return target;
  auto target = system().registry().get(id);
  last_target_id_ = id;
  last_target_ = caf::actor_cast<caf::weak_actor_ptr>(target);
  return target;
}

void connection_broker::on_actor_down(std::string_view body) {
  wire::ActorDown down;
  if (!down.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    log::rejected("malformed frame", cfg_.address + " sent an ActorDown that does not parse");
    return;
  }
  auto i = proxies_.find(down.actor());
  if (i == proxies_.end())
    return;
  auto proxy = std::move(i->second);
  proxies_.erase(i);
  static_cast<caf::actor_proxy*>(proxy->get())->kill_proxy(context(), from_wire(down.reason()));
}

void connection_broker::on_spawn_request(std::string_view body) {
  wire::SpawnRequest req;
  if (!req.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    log::rejected("malformed frame", cfg_.address + " sent a SpawnRequest that does not parse");
    return;
  }
  wire::SpawnResponse resp;
  resp.set_request_id(req.request_id());
  auto fail = [&](errc code, const std::string& detail) {
    log::rejected("spawn request", cfg_.address + ": " + detail);
    *resp.mutable_error() = to_wire(make_error(code, detail));
  };
  caf::message args;
  caf::strong_actor_ptr spawned_actor;
  if (!req.args_type().empty()) {
    if (auto* codec = message_registry::instance().find(req.args_type())) {
      if (auto decoded = codec->decode(req.args().data(), req.args().size()))
        args = std::move(*decoded);
      else
        fail(errc::corrupt_payload, "spawn arguments do not parse as " + req.args_type());
    } else {
      fail(errc::unknown_message_type, "spawn argument type " + req.args_type()
                                         + " is not registered on this node");
    }
  }
  if (!resp.has_error()) {
    auto spawned = system().spawn<caf::actor>(req.actor_type(), std::move(args));
    if (!spawned) {
      fail(errc::unknown_actor_type, "cannot spawn '" + req.actor_type()
                                       + "': " + system().render(spawned.error()));
    } else {
      spawned_actor = caf::actor_cast<caf::strong_actor_ptr>(*spawned);
      system().registry().put(spawned_actor->id(), spawned_actor);
      resp.set_actor(spawned_actor->id());
    }
  }
  link_->append(
    [&](std::vector<char>& out) { wire::append_frame(out, wire::kind::spawn_response, resp); });
  // Only now watch it: an actor that is done already (it may finish at once) must be reported
  // down after the peer learned that it exists, or the peer's proxy would wait forever.
  if (spawned_actor)
    link_->export_actor(spawned_actor);
}

void connection_broker::spawn_remote(const std::string& type, const caf::message& args,
                                     caf::response_promise rp) {
  wire::SpawnRequest req;
  req.set_request_id(next_spawn_id_++);
  req.set_actor_type(type);
  if (!args.empty()) {
    auto rtti = args.type(0);
    const auto* codec = args.size() == 1 && rtti.second
                          ? message_registry::instance().find(*rtti.second)
                          : nullptr;
    if (!codec) {
      rp.deliver(make_error(errc::not_serializable,
                            "spawn arguments must be one registered Protobuf message"));
      return;
    }
    req.set_args_type(codec->name);
    req.set_args(codec->view(args.at(0)).SerializeAsString());
  }
  bool sent = established_ && link_->append([&](std::vector<char>& out) {
                wire::append_frame(out, wire::kind::spawn_request, req);
              });
  if (!sent) {
    rp.deliver(make_error(errc::node_down, "connection to " + peer_.name + " is closed"));
    return;
  }
  pending_spawns_.emplace(req.request_id(), std::move(rp));
  drain();
}

void connection_broker::on_spawn_response(std::string_view body) {
  wire::SpawnResponse resp;
  if (!resp.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    log::rejected("malformed frame", cfg_.address + " sent a SpawnResponse that does not parse");
    return;
  }
  auto i = pending_spawns_.find(resp.request_id());
  if (i == pending_spawns_.end())
    return;
  auto rp = std::move(i->second);
  pending_spawns_.erase(i);
  if (resp.has_error())
    rp.deliver(from_wire(resp.error()));
  else
    rp.deliver(caf::actor_cast<caf::actor>(proxy_for(resp.actor())));
}

void connection_broker::on_goodbye(std::string_view body) {
  wire::Goodbye bye;
  bye.ParseFromArray(body.data(), static_cast<int>(body.size()));
  log::get().info("{} ({}) said goodbye: {}", peer_.name, cfg_.address, bye.reason());
  auto code = bye.code() == 0 ? errc::node_down : errc_from_wire(bye.code());
  shutdown(make_error(code, peer_.name + " left: " + bye.reason()), false);
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
  caf::io::broker::on_exit();
}

void connection_broker::release(const caf::error& reason) {
  closing_ = true;
  if (established_)
    log::get().info("connection to {} ({}) closed: {}", peer_.name, cfg_.address,
                    describe(reason));
  for (auto& req : link_->close()) {
    auto err = make_error(errc::node_down, "the node hosting the actor was lost: "
                                             + describe(reason));
    req.requester->enqueue(caf::make_mailbox_element(nullptr, req.mid.response_id(), {},
                                                     caf::make_message(std::move(err))),
                           context());
  }
  for (auto& kv : proxies_)
    static_cast<caf::actor_proxy*>(kv.second->get())->kill_proxy(context(), reason);
  proxies_.clear();
  for (auto& kv : pending_spawns_)
    kv.second.deliver(reason);
  pending_spawns_.clear();
  if (cfg_.manager)
    send(cfg_.manager, node_down_atom::value, cfg_.connection_id, reason);
}

// -- spawning -------------------------------------------------------------------------------------

// The socket behind an accepted connection: CAF 0.17's default multiplexer uses the socket as
// the handle's id. Checked, not assumed: -1 (no direct writes) unless the handle's id is a
// socket connected to the address CAF reports.
int socket_of(caf::io::broker* self, caf::io::connection_handle hdl) {
  auto fd = static_cast<int>(hdl.id());
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return -1;
  uint16_t port = 0;
  if (addr.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  else if (addr.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return port == self->remote_port(hdl) ? fd : -1;
}

caf::behavior connection_main(connection_broker* self, caf::io::connection_handle hdl,
                              connection_config cfg) {
  return self->start(hdl, std::move(cfg), socket_of(self, hdl));
}

caf::behavior connection_from_fd(connection_broker* self, int fd, connection_config cfg) {
  auto hdl = self->add_scribe(fd);
  return self->start(hdl, std::move(cfg), fd);
}

caf::behavior listener_main(caf::io::broker* self, caf::io::doorman_ptr doorman,
                            std::function<connection_config(const std::string&)> make_config) {
  self->add_doorman(std::move(doorman));
  return {
    [self, make_config](const caf::io::new_connection_msg& msg) {
      auto remote = self->remote_addr(msg.handle) + ":" + std::to_string(self->remote_port(msg.handle));
      self->fork(connection_main, msg.handle, make_config("tcp " + remote));
    },
    [](const caf::io::acceptor_closed_msg&) {},
  };
}

}  // namespace

caf::actor spawn_connection(caf::actor_system& sys, int fd, connection_config cfg) {
  return sys.middleman().spawn_broker(connection_from_fd, fd, std::move(cfg));
}

caf::expected<std::pair<caf::actor, uint16_t>>
spawn_listener(caf::actor_system& sys, const std::string& host, uint16_t port,
               std::function<connection_config(const std::string&)> make_config) {
  // Bind here, so the caller learns the port (or the error) now; the broker adopts the socket.
  // SO_REUSEADDR: a restarted head gets its port back despite connections in TIME_WAIT.
  auto doorman = sys.middleman().backend().new_tcp_doorman(port, host.c_str(), true);
  if (!doorman)
    return std::move(doorman.error());
  auto bound_port = (*doorman)->port();
  auto listener = sys.middleman().spawn_broker(listener_main, std::move(*doorman),
                                               std::move(make_config));
  return std::make_pair(listener, bound_port);
}

}  // namespace troupe::detail
