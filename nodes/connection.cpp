#include "troupe/nodes/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <typeindex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/actor_proxy.hpp>
#include <caf/actor_registry.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
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

// -- errors on the wire ---------------------------------------------------------------------------

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

// -- state shared by a connection's broker and its proxies ----------------------------------------

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
      : sys_(sys), broker_(caf::actor_cast<caf::weak_actor_ptr>(broker)) {}

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
  // peer (watch) the first time it sends here.
  send_status send(const wire::envelope_header& proto_header, const caf::type_erased_tuple& content,
                   const caf::strong_actor_ptr& sender, caf::message_id mid, std::string& problem) {
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

  // The request a response claims to answer, if it went out over this link; it is no longer
  // pending then. This table, not the actor registry, routes responses: the registry would let
  // a peer answer a request sent to another peer.
  std::optional<pending_request> take_pending(caf::actor_id requester, uint64_t request_id) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = pending_.find(request_key{requester, request_id});
    if (i == pending_.end())
      return std::nullopt;
    auto request = std::move(i->second);
    pending_.erase(i);
    return request;
  }

  // True if the peer was told of this local actor over this link and it has not terminated:
  // the only actors the peer may address.
  bool exported(caf::actor_id id) {
    std::lock_guard<std::mutex> guard{mtx_};
    return exported_.count(id) > 0;
  }

  // Live actors spawned at the peer's request.
  size_t spawned_count() {
    std::lock_guard<std::mutex> guard{mtx_};
    return spawned_.size();
  }

  // Exports an actor spawned at the peer's request; it ends with the link (take_spawned).
  // False if the link is closed already: the caller ends it.
  bool export_spawned(const caf::strong_actor_ptr& actor) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        return false;
      spawned_.emplace(actor->id(), caf::actor_cast<caf::weak_actor_ptr>(actor));
      exported_.insert(actor->id());
    }
    watch(actor);
    return true;
  }

  // After close(): the actors spawned for the peer, to be ended with the link.
  std::vector<caf::weak_actor_ptr> take_spawned() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<caf::weak_actor_ptr> result;
    result.reserve(spawned_.size());
    for (auto& kv : spawned_)
      result.push_back(std::move(kv.second));
    spawned_.clear();
    return result;
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

private:
  // Makes a local actor the peer was told of reachable by the peer: it can be found by id, and
  // its termination is reported to the peer (ActorDown) so that the peer's proxy and monitors
  // learn of it. Outside the lock: attaching may run the functor at once.
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
    spawned_.erase(id);
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
  std::unordered_map<caf::actor_id, caf::weak_actor_ptr> spawned_;  // for the peer, alive
};

// -- proxies --------------------------------------------------------------------------------------

// A remote actor, here. Messages to it are encoded on the sender's thread into the link's
// outbox. Links and monitors stay local: a proxy terminates (and its monitors fire) when the
// remote actor terminates or its node is lost.
class remote_proxy final : public caf::actor_proxy {
public:
  remote_proxy(caf::actor_config& cfg, std::shared_ptr<link_state> link)
      : actor_proxy(cfg), link_(std::move(link)) {}

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
  int fd_ = -1;                             // the socket, if known (for direct writes)
  std::shared_ptr<link_state> link_;
  wire::frame_decoder decoder_;
  size_t partial_held_ = 0;  // this link's share of the node's partial-frame budget
  std::optional<clock::time_point> partial_since_;  // when the unfinished frame began
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
  peer_.connection_id = cfg_.connection_id;
  peer_.name = hello.node_name();
  peer_.node = caf::make_node_id(hello.node_id().process_id(), host);
  peer_.process_id = hello.node_id().process_id();
  peer_.address = cfg_.address;
  auto max_frame =
      hello.max_frame_size() > 0 ? hello.max_frame_size() : wire::default_max_frame_size;
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
  if (!beat.ParseFromArray(body.data(), static_cast<int>(body.size())))
    protocol_violation(cfg_.address + " sent a Heartbeat that does not parse");
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
  auto target = answered ? answered->requester : find_target(env.target);
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

caf::strong_actor_ptr connection_broker::find_target(caf::actor_id id) {
  // Traffic tends to go to one actor at a time: remember the last one (weakly, so as not to
  // keep it alive), instead of asking the registry for every message.
  if (id == last_target_id_)
    if (auto target = last_target_.lock())
      return target;
  // Only an actor the peer was told of over this link: an id learned elsewhere, or guessed,
  // reaches nothing.
  if (!link_->exported(id))
    return nullptr;
  auto target = system().registry().get(id);
  last_target_id_ = id;
  last_target_ = caf::actor_cast<caf::weak_actor_ptr>(target);
  return target;
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
  static_cast<caf::actor_proxy*>(proxy->get())->kill_proxy(context(), from_wire(down.reason()));
}

void connection_broker::on_spawn_request(std::string_view body) {
  wire::SpawnRequest req;
  if (!req.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    protocol_violation(cfg_.address + " sent a SpawnRequest that does not parse");
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
  if (link_->spawned_count() >= cfg_.max_spawned) {
    fail(errc::too_many, "this node already runs " + std::to_string(cfg_.max_spawned)
                             + " actors spawned for " + cfg_.address + " (its limit)");
  } else if (!req.args_type().empty()) {
    if (auto* codec = message_registry::instance().find(req.args_type())) {
      if (auto decoded = codec->decode(req.args().data(), req.args().size()))
        args = std::move(*decoded);
      else
        fail(errc::corrupt_payload, "spawn arguments do not parse as " + req.args_type());
    } else {
      fail(errc::unknown_message_type,
           "spawn argument type " + req.args_type() + " is not registered on this node");
    }
  }
  if (!resp.has_error()) {
    auto spawned = system().spawn<caf::actor>(req.actor_type(), std::move(args));
    if (!spawned) {
      fail(errc::unknown_actor_type,
           "cannot spawn '" + req.actor_type() + "': " + system().render(spawned.error()));
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
  if (spawned_actor && !link_->export_spawned(spawned_actor))
    send_exit(caf::actor_cast<caf::actor>(spawned_actor),
              make_error(errc::node_down, "its link closed"));
}

void connection_broker::spawn_remote(const std::string& type, const caf::message& args,
                                     caf::response_promise rp) {
  wire::SpawnRequest req;
  req.set_request_id(next_spawn_id_++);
  req.set_actor_type(type);
  if (!args.empty()) {
    auto rtti = args.type(0);
    const auto* codec =
        args.size() == 1 && rtti.second ? message_registry::instance().find(*rtti.second) : nullptr;
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
    protocol_violation(cfg_.address + " sent a SpawnResponse that does not parse");
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

// -- spawning -------------------------------------------------------------------------------------

caf::behavior connection_from_fd(connection_broker* self, int fd, connection_config cfg) {
  auto hdl = self->add_scribe(fd);
  return self->start(hdl, std::move(cfg), fd);
}

// A connection whose slot among the node's open connections is taken already (on_exit frees it).
caf::actor start_connection(caf::actor_system& sys, int fd, connection_config cfg) {
  return sys.middleman().spawn_broker(connection_from_fd, fd, std::move(cfg));
}

std::string peer_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return "unknown peer";
  char text[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
  }
  return std::string{text} + ":" + std::to_string(port);
}

// Accepts TCP connections on a thread of its own rather than with CAF's doorman, to decide what
// happens when accept fails: at the descriptor limit (EMFILE) the listening socket stays
// readable, and the doorman retries at once, forever, spinning a core. This loop pauses
// accepting instead, 100 ms at first, doubling up to 1 s, and says so in the log (rate-limited).
// The pending connections wait in the kernel's backlog meanwhile.
class accept_loop {
public:
  using config_maker = std::function<connection_config(const std::string& remote)>;

  accept_loop(caf::actor_system& sys, int listen_fd, uint16_t port, config_maker make_config)
      : sys_(sys),
        listen_fd_(listen_fd),
        port_(port),
        make_config_(std::move(make_config)),
        wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread{[this] { run(); }};
  }

  accept_loop(const accept_loop&) = delete;
  accept_loop& operator=(const accept_loop&) = delete;

  ~accept_loop() {
    uint64_t one = 1;
    static_cast<void>(!::write(wake_fd_, &one, sizeof(one)));
    thread_.join();
    ::close(wake_fd_);
    ::close(listen_fd_);
  }

private:
  static constexpr auto first_pause = std::chrono::milliseconds{100};
  static constexpr auto longest_pause = std::chrono::milliseconds{1000};

  // Waits for the listening socket (or only for `pause`, if set); false once told to stop.
  bool wait(std::optional<std::chrono::milliseconds> pause) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (;;) {
      int n = ::poll(fds, pause ? 1 : 2, pause ? static_cast<int>(pause->count()) : -1);
      if (n < 0 && errno == EINTR)
        continue;
      return n >= 0 && (fds[0].revents & POLLIN) == 0;
    }
  }

  void run() {
    std::optional<std::chrono::milliseconds> pause;
    while (wait(pause)) {
      pause.reset();
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        backoff_ = first_pause;
        adopt(fd);
        continue;
      }
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED
          || err == EPROTO || err == EPERM)
        continue;  // this one connection failed, or none was there after all
      // Out of descriptors or memory: nothing can be accepted until some are free.
      log::rejected("connections", "cannot accept on port " + std::to_string(port_) + ": "
                                       + std::strerror(err) + "; not accepting for "
                                       + std::to_string(backoff_.count()) + " ms");
      pause = backoff_;
      backoff_ = std::min(backoff_ * 2, longest_pause);
    }
  }

  void adopt(int fd) {
    auto remote = peer_address(fd);
    auto cfg = make_config_("tcp " + remote);
    if (cfg.limits && !cfg.limits->try_open()) {
      auto detail = remote + ": this node has " + std::to_string(cfg.limits->max_connections())
                    + " connections open, its limit (--max-connections)";
      log::rejected("connection", detail);
      if (!cfg.tls) {
        // Plain TCP: the peer can read why (a TLS peer expects its handshake first).
        wire::Goodbye bye;
        bye.set_code(static_cast<uint32_t>(errc::too_many));
        bye.set_reason("refused: " + detail);
        std::vector<char> out;
        wire::append_frame(out, wire::kind::goodbye, bye);
        static_cast<void>(::send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL));
      }
      ::close(fd);
      return;
    }
    start_connection(sys_, fd, std::move(cfg));
  }

  caf::actor_system& sys_;
  int listen_fd_;
  uint16_t port_;
  config_maker make_config_;
  int wake_fd_;
  std::chrono::milliseconds backoff_ = first_pause;
  std::thread thread_;
};

// The listener as an actor, so that the node stops it like its other actors: its exit stops the
// accept loop and closes the listening socket.
caf::behavior listener_main(caf::event_based_actor* self) {
  return {
      [self](close_atom) { self->quit(); },
  };
}

}  // namespace

caf::actor spawn_connection(caf::actor_system& sys, int fd, connection_config cfg) {
  if (cfg.limits)
    cfg.limits->open();
  return start_connection(sys, fd, std::move(cfg));
}

caf::expected<std::pair<caf::actor, uint16_t>> spawn_listener(
    caf::actor_system& sys, const std::string& host, uint16_t port,
    std::function<connection_config(const std::string&)> make_config) {
  // Bind here, so the caller learns the port (or the error) now. CAF's binding rules (which
  // addresses a host name means); SO_REUSEADDR: a restarted head gets its port back despite
  // connections in TIME_WAIT.
  auto fd = caf::io::network::new_tcp_acceptor_impl(port, host.c_str(), true);
  if (!fd)
    return std::move(fd.error());
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto bound_port =
      ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  ::fcntl(*fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(*fd, F_SETFL, ::fcntl(*fd, F_GETFL) | O_NONBLOCK);
  auto listener = sys.spawn(listener_main);
  auto loop = std::make_shared<accept_loop>(sys, *fd, bound_port, std::move(make_config));
  // The only owner of the loop: its destructor stops and joins the thread.
  listener->attach_functor([loop]() mutable { loop.reset(); });
  return std::make_pair(std::move(listener), bound_port);
}

}  // namespace troupe::detail
