// A channel: the one actor behind a troupe::queue, or behind one direction of a troupe::pipe
// (internal). It lives in the process that created the queue or pipe and holds the encoded
// values; every holder, local thread or worker process, talks to it with the requests of
// ipc.proto. Credit, not memory: on a bounded channel a put first reserves a slot (Reserve ->
// Granted) and only then sends its value, so a full channel keeps the values with their
// putters and holds at most maxsize of them itself.
//
// Who may do what: local code may do everything. A worker process may put, get and close only
// as the holder it was made by attach() (a pipe's child end writes one direction and reads the
// other); anything else it sends is refused. Values it puts must decode as the channel's type.
// When a worker process holding the channel is lost, the channel is broken: puts fail at once,
// gets take what is left and then fail, all with errc::node_down naming the process.
//
// The blocking functions are for plain threads (never call them from inside an actor); actors
// use async_put / async_get. They throw the types in errors.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>

namespace troupe::ipc {

using attach_atom = caf::atom_constant<caf::atom("ipcattach")>;

struct channel_config {
  size_t maxsize = 0;                              // 0: unbounded
  std::string value_type;                          // shown in errors, sent with Attach
  std::function<bool(std::string_view)> validate;  // true if the bytes decode as a value
  // A pipe direction: a holder that leaves closes its side, as a process's exit closes its
  // end of a pipe (the peer's recv sees the end, its send is refused). A queue stays open.
  bool holders_close_on_exit = false;
};

/// What a holder keeps: the channel's actor and whether puts need a reservation.
struct channel_ref {
  caf::actor_system* sys = nullptr;
  caf::actor actor;
  size_t maxsize = 0;
  // Held by the handles in the channel's own process: when the last one goes, the channel
  // ends once no worker process holds it either.
  std::shared_ptr<const void> owner;
};

/// A new channel in this process, with its owner token.
channel_ref make_channel(caf::actor_system& sys, channel_config cfg);

/// Hands the channel to the target runner of a worker process as argument `slot` (a pipe's
/// `end`), with the rights to put and/or get; returns once the channel has sent Attach.
caf::error attach(caf::actor_system& sys, const caf::actor& channel, const caf::actor& runner,
                  uint32_t slot, uint32_t end, bool may_put, bool may_get);

// -- blocking, for plain threads -----------------------------------------------------------------

void put(const channel_ref& ch, std::string value, std::chrono::milliseconds timeout);

/// The oldest value, or nullopt at the end of the stream (closed and empty).
std::optional<std::string> get(const channel_ref& ch, std::chrono::milliseconds timeout);

/// True once a value or the end of the stream is there to get; false after `timeout`.
bool poll(const channel_ref& ch, std::chrono::milliseconds timeout);

void close(const channel_ref& ch, bool writer, bool reader);

// -- asynchronous, for actors
// ----------------------------------------------------------------------

/// `done` gets true once the value is stored, false if the channel is closed, or an error (a
/// timeout is caf::sec::request_timeout).
void async_put(caf::event_based_actor* self, const channel_ref& ch, std::string value,
               std::chrono::milliseconds timeout, std::function<void(caf::expected<bool>)> done);

/// `done` gets the value, nullopt at the end of the stream, or an error.
void async_get(caf::event_based_actor* self, const channel_ref& ch,
               std::chrono::milliseconds timeout,
               std::function<void(caf::expected<std::optional<std::string>>)> done);

/// Throws the errors.hpp type for `err` (timeout, peer lost, closed, other); `what` names the
/// operation ("queue.get").
[[noreturn]] void throw_error(const caf::error& err, const char* what,
                              std::chrono::milliseconds timeout);

}  // namespace troupe::ipc
