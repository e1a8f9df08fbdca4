// troupe's error codes, without CAF: the wire's parsers (nodes/wire/) use them alone. They
// cross the wire (Goodbye, Error), so each value's number is pinned: never renumber, only
// append. error.hpp turns them into caf::error values.
#pragma once

#include <cstdint>

namespace troupe {

enum class errc : uint8_t {
  corrupt_payload = 1,       // Protobuf bytes that do not parse as the announced type
  unknown_message_type = 2,  // a payload type this node never registered
  message_too_large = 3,     // a frame over the configured maximum size
  not_serializable = 4,      // a message that is not one Protobuf value (or empty, or an error)
  node_down = 5,             // the node hosting the actor was lost
  protocol_error = 6,        // a malformed frame or a frame out of order
  version_mismatch = 7,      // the peer speaks another protocol version
  auth_failed = 8,           // wrong, missing or replayed credentials
  unknown_actor_type = 9,    // spawn by a name nobody registered
  unknown_task = 10,         // a process pool task name nobody registered
  task_failed = 11,          // a task raised an exception; the context carries its message
  worker_lost = 12,          // a task's worker died under it (too often, for a process pool)
  pool_closed = 13,          // submit after close/shutdown
  connect_failed = 14,       // could not reach or join a node in time
  handshake_timeout = 15,    // the peer did not finish the handshake before its deadline
  unknown_actor = 16,        // the target actor does not exist (any more) on that node
  cancelled = 17,            // the work was cancelled before it ran
  shutdown = 18,             // the peer closed the connection on purpose (a Goodbye at exit)
  stream_aborted = 19,       // a stream's producer terminated before the end of the stream
  task_timeout = 20,         // a task ran longer than its timeout; its worker was replaced
  worker_start_failed = 21,  // worker processes kept failing at start-up
  terminated = 22,           // the pool was terminated before the work finished
  revoked = 23,              // a queued batch handed back by its worker, to run elsewhere
  too_many = 24,             // a per-node or per-link limit was reached (connections, spawns)
};

/// The largest errc value; wire codes above it are unknown to this version.
inline constexpr uint8_t errc_last = 24;

/// An errc received on the wire, or protocol_error for codes this version does not know.
errc errc_from_wire(uint32_t code);

const char* to_string(errc code);

}  // namespace troupe
