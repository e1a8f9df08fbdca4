// link_state: what a connection's broker and its proxies share, behind one mutex.
//
// It holds the outbox (frames waiting for the socket), the numbering of outgoing payload types
// (which must follow the order frames are appended), the requests in flight over the link (so
// that a response is delivered only to the request it answers, and so they fail at once when the
// link closes), which local actors the peer knows (so it is told when they terminate), and the
// actors spawned for the peer (they end with the link).
//
// Who calls what, on which thread (every member below runs under mtx_ unless it says otherwise):
//
//   sender threads (any actor's, via remote_proxy::enqueue)   send
//   any thread (broker, and a watched actor's at its exit)    append (control frames),
//                                                             actor_down (via watch's functor)
//   the broker's thread only                                  established, enable_direct_writes,
//                                                             drain_into, handed, written,
//                                                             take_pending, exported,
//                                                             spawned_count, export_spawned,
//                                                             take_spawned, close
//   outside the lock                                          watch (attaching may run the
//                                                             functor at once, which locks)
//
// The direct-write path: on a plain link, while CAF holds no unwritten bytes for the socket
// (handed_ == written_, outbox empty), a sender writes its frame to the socket itself, on its own
// thread, under the lock, so no write can overtake another. Under load the broker's batches win
// (one write for many frames): a sender writes itself at most once per direct_write_gap, or once
// more after each read of the peer's bytes (an answer to what arrived, as in a round trip faster
// than the gap); else its frame waits in the outbox and the broker is woken (flush_atom) unless a
// wake-up is pending already, so a burst of messages leaves in one write.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/message_id.hpp>
#include <caf/send.hpp>
#include <caf/type_erased_tuple.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/messages/registry.hpp"
#include "troupe/nodes/observe/link_counters.hpp"
#include "troupe/nodes/wire/envelope.hpp"
#include "troupe/nodes/wire/frame.hpp"

namespace troupe::detail {

/// A request that went out over the link and waits for its response.
struct pending_request {
  caf::strong_actor_ptr requester;
  caf::message_id mid;
};

enum class send_status { sent, closed, not_serializable, too_large };

class link_state : public std::enable_shared_from_this<link_state> {
public:
  link_state(caf::actor_system& sys, const caf::actor& broker);
  ~link_state();

  link_state(const link_state&) = delete;
  link_state& operator=(const link_state&) = delete;

  caf::actor_system& system() {
    return sys_;
  }

  /// The handshake ended: frames may now be as large as the peer accepts.
  void established(size_t peer_max_frame);

  /// Encodes one message from a local sender into the outbox (or straight onto the socket). The
  /// sender becomes known to the peer (watch) the first time it sends here; a request is
  /// remembered until its response arrives or the link closes. `problem` says why it was not
  /// sent, if it was not.
  send_status send(const wire::envelope_header& proto_header, const caf::type_erased_tuple& content,
                   const caf::strong_actor_ptr& sender, caf::message_id mid, std::string& problem);

  /// Appends a control frame built by `write`. False once closed.
  template <class Write>
  bool append(Write write) {
    caf::actor to_wake;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        return false;
      write(outbox_);
      if (counters_)
        observe::link_counters::add(counters_->frames_out, 1);
      to_wake = push_locked();
    }
    if (to_wake)
      caf::anon_send(to_wake, flush_atom::value);
    return true;
  }

  /// Moves the outbox into `dst` (the socket's write buffer); false if it was empty.
  bool drain_into(std::vector<char>& dst);

  /// The request a response claims to answer, if it went out over this link; it is no longer
  /// pending then. This table, not the actor registry, routes responses: the registry would let
  /// a peer answer a request sent to another peer.
  std::optional<pending_request> take_pending(caf::actor_id requester, uint64_t request_id);

  /// True if the peer was told of this local actor over this link and it has not terminated:
  /// the only actors the peer may address.
  bool exported(caf::actor_id id);

  /// Live actors spawned at the peer's request.
  size_t spawned_count();

  /// Exports an actor spawned at the peer's request; it ends with the link (take_spawned).
  /// False if the link is closed already: the caller ends it.
  bool export_spawned(const caf::strong_actor_ptr& actor);

  /// After close(): the actors spawned for the peer, to be ended with the link.
  std::vector<caf::weak_actor_ptr> take_spawned();

  /// Closes the link; returns the requests that will never be answered now.
  std::vector<pending_request> close();

  /// Plain links only: lets senders write to the socket themselves while CAF has nothing to
  /// write for it, saving the wake-up of the I/O thread per message when traffic is light.
  /// `fd` is duplicated: CAF may close its own descriptor at any time, and a number it frees
  /// can be reused for another socket.
  void enable_direct_writes(int fd);

  /// The broker read bytes from the peer (any thread may call it; it takes no lock).
  void bytes_arrived() {
    arrived_.store(true, std::memory_order_relaxed);
  }

  /// The broker gave CAF bytes for the socket other than the outbox (handshake, Goodbye).
  void handed(size_t n);

  /// While a dashboard runs: count the frames and bytes that leave into `counters`.
  void count_with(std::shared_ptr<observe::link_counters> counters);

  /// CAF wrote n bytes (ack_writes on). Counting rather than trusting "nothing remains": that
  /// report may be stale by the time the broker reads it, with newer bytes handed to CAF since,
  /// and a direct write then would overtake them.
  void written(size_t n);

private:
  struct outgoing_type {
    const message_codec* codec;
    uint32_t id;
    bool declared;  // a frame with its name went out
  };

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

  // Makes a local actor the peer was told of reachable by the peer: it can be found by id, and
  // its termination is reported to the peer (ActorDown) so that the peer's proxy and monitors
  // learn of it. Outside the lock: attaching may run the functor at once.
  void watch(const caf::strong_actor_ptr& actor);

  // A watched actor terminated: tell the peer, forget it.
  void actor_down(caf::actor_id id, const caf::error& reason);

  // After appending to the outbox: write it at once if the socket is idle and traffic light,
  // else hand it to the broker (returns the broker to wake, if it needs waking).
  caf::actor push_locked();
  // Writes the outbox to the socket unless a sender did so within direct_write_gap and nothing
  // arrived since; true if all of it left.
  bool try_direct_write_locked();
  caf::actor wake_locked();

  send_status encode(wire::envelope_header h, const caf::type_erased_tuple& content,
                     std::string& problem);
  outgoing_type* out_type(const std::type_info* type);
  send_status append_checked(const wire::envelope_header& h,
                             const google::protobuf::MessageLite& payload, std::string& problem);

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
  std::atomic<bool> arrived_{false};  // bytes_arrived since the last direct write
  std::vector<char> outbox_;
  bool wakeup_pending_ = false;
  bool closed_ = false;
  size_t peer_max_frame_ = wire::default_max_frame_size;
  // Keyed by the type_info's address: no hashing of type names per message. Should a type have
  // two type_info objects, it merely gets two numbers.
  std::unordered_map<const std::type_info*, outgoing_type> out_types_;
  std::pair<const std::type_info*, outgoing_type*> last_out_type_{nullptr, nullptr};
  uint32_t next_type_id_ = 1;
  std::unordered_map<request_key, pending_request, request_key_hash> pending_;
  std::unordered_set<caf::actor_id> exported_;
  caf::actor_id last_sender_ = 0;                                   // in exported_ (0: none)
  std::unordered_map<caf::actor_id, caf::weak_actor_ptr> spawned_;  // for the peer, alive
  std::shared_ptr<observe::link_counters> counters_;                // null unless a dashboard runs
};

}  // namespace troupe::detail
