#include "troupe/nodes/connection/link.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <typeindex>

#include <caf/actor_registry.hpp>
#include <caf/error.hpp>

#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/connection/wire_error.hpp"

namespace troupe::detail {

link_state::link_state(caf::actor_system& sys, const caf::actor& broker)
    : sys_(sys), broker_(caf::actor_cast<caf::weak_actor_ptr>(broker)) {}

link_state::~link_state() {
  if (direct_fd_ >= 0)
    ::close(direct_fd_);
}

void link_state::established(size_t peer_max_frame) {
  std::lock_guard<std::mutex> guard{mtx_};
  peer_max_frame_ = peer_max_frame;
}

send_status link_state::send(const wire::envelope_header& proto_header,
                             const caf::type_erased_tuple& content,
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
    if (counters_)
      observe::link_counters::add(counters_->frames_out, 1);
    if (sender) {
      // A stream comes from one sender: skip the set for the one that sent last.
      if (sender->id() != last_sender_) {
        first_from_sender = exported_.insert(sender->id()).second;
        last_sender_ = sender->id();
      }
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

bool link_state::drain_into(std::vector<char>& dst) {
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

std::optional<pending_request> link_state::take_pending(caf::actor_id requester,
                                                        uint64_t request_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = pending_.find(request_key{requester, request_id});
  if (i == pending_.end())
    return std::nullopt;
  auto request = std::move(i->second);
  pending_.erase(i);
  return request;
}

bool link_state::exported(caf::actor_id id) {
  std::lock_guard<std::mutex> guard{mtx_};
  return exported_.count(id) > 0;
}

size_t link_state::spawned_count() {
  std::lock_guard<std::mutex> guard{mtx_};
  return spawned_.size();
}

bool link_state::export_spawned(const caf::strong_actor_ptr& actor) {
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

std::vector<caf::weak_actor_ptr> link_state::take_spawned() {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<caf::weak_actor_ptr> result;
  result.reserve(spawned_.size());
  for (auto& kv : spawned_)
    result.push_back(std::move(kv.second));
  spawned_.clear();
  return result;
}

std::vector<pending_request> link_state::close() {
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

void link_state::enable_direct_writes(int fd) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (closed_ || direct_fd_ >= 0)
    return;
  direct_fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void link_state::handed(size_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  socket_idle_ = false;
  handed_ += n;
}

void link_state::count_with(std::shared_ptr<observe::link_counters> counters) {
  std::lock_guard<std::mutex> guard{mtx_};
  counters_ = std::move(counters);
}

void link_state::written(size_t n) {
  std::lock_guard<std::mutex> guard{mtx_};
  written_ += n;
  if (counters_)
    observe::link_counters::add(counters_->bytes_out, n);
  if (direct_fd_ >= 0 && written_ == handed_ && outbox_.empty())
    socket_idle_ = true;
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

void link_state::actor_down(caf::actor_id id, const caf::error& reason) {
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
  if (last_sender_ == id)
    last_sender_ = 0;
}

caf::actor link_state::push_locked() {
  // The clock only while the socket is idle: under load (the broker writing) it is never, and
  // reading it costs about as much as encoding a small frame here.
  if (socket_idle_ && try_direct_write_locked())
    return nullptr;
  return wake_locked();
}

bool link_state::try_direct_write_locked() {
  auto now = std::chrono::steady_clock::now();
  bool answering = arrived_.exchange(false, std::memory_order_relaxed);
  if (now - last_direct_write_ < direct_write_gap && !answering) {
    // Traffic is not light: this frame and the ones after it go to the broker, and no sender
    // reads the clock again until the broker's writes are done (written).
    socket_idle_ = false;
    return false;
  }
  last_direct_write_ = now;
  auto n = ::send(direct_fd_, outbox_.data(), outbox_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (counters_ && n > 0)
    observe::link_counters::add(counters_->bytes_out, static_cast<uint64_t>(n));
  if (n == static_cast<ssize_t>(outbox_.size())) {
    outbox_.clear();
    return true;
  }
  if (n > 0)
    outbox_.erase(outbox_.begin(), outbox_.begin() + n);
  socket_idle_ = false;  // the rest, and what follows, goes through the broker
  return false;
}

caf::actor link_state::wake_locked() {
  if (wakeup_pending_)
    return nullptr;
  auto broker = caf::actor_cast<caf::actor>(broker_.lock());
  if (broker)
    wakeup_pending_ = true;
  return broker;
}

send_status link_state::encode(wire::envelope_header h, const caf::type_erased_tuple& content,
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

link_state::outgoing_type* link_state::out_type(const std::type_info* type) {
  if (!type)
    return nullptr;
  // A stream sends one type: skip the table for the type sent last (its entries never move).
  if (type == last_out_type_.first)
    return last_out_type_.second;
  auto i = out_types_.find(type);
  if (i == out_types_.end()) {
    const auto* codec = message_registry::instance().find(std::type_index{*type});
    if (!codec)
      return nullptr;
    i = out_types_.emplace(type, outgoing_type{codec, next_type_id_++, false}).first;
  }
  last_out_type_ = {type, &i->second};
  return &i->second;
}

send_status link_state::append_checked(const wire::envelope_header& h,
                                       const google::protobuf::MessageLite& payload,
                                       std::string& problem) {
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

}  // namespace troupe::detail
