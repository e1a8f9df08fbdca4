// The frame limit values are checked against before they leave for another process (internal).
//
// A node's wire refuses a frame over max_frame_size (docs/protocol.md, "Limits"). A value that
// is refused only once it is sent is lost where nobody waits for it (a queue's value handed to
// a getter), so queues, pipes and the process pool check a value's encoded size, which they
// have anyway, before they send it. The node registers its limit for its actor system here,
// where a channel, which knows only the actor system, finds it.
#pragma once

#include <cstddef>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>

namespace troupe::detail {

/// Room a frame needs besides the value it carries: the envelope's header and the fields of
/// the message around the value. Generous: the limit is at least 4 KiB (--max-frame-size).
inline constexpr size_t frame_allowance = 1024;

/// The largest encoded value a frame under `max_frame_size` carries.
inline size_t max_value_size(size_t max_frame_size) {
  return max_frame_size > frame_allowance ? max_frame_size - frame_allowance : 0;
}

/// A node on `sys` takes this limit (node's constructor) and gives it up (its destructor).
void register_frame_limit(const caf::actor_system& sys, size_t max_frame_size);
void unregister_frame_limit(const caf::actor_system& sys, size_t max_frame_size);

/// The smallest frame limit of the nodes on `sys`; 0 if none runs there (nothing leaves it).
size_t frame_limit(const caf::actor_system& sys);

/// Why a value of `bytes` is too large for a frame under `max_frame_size`; `what` says whose
/// value it is ("put: a value", "its result").
std::string describe_too_large(size_t bytes, size_t max_frame_size, const std::string& what);

/// message_too_large if a value of `bytes` cannot cross under `max_frame_size` (0: no limit);
/// `what` says whose value it is, as for describe_too_large.
caf::error check_value_size(size_t bytes, size_t max_frame_size, const std::string& what);

}  // namespace troupe::detail
