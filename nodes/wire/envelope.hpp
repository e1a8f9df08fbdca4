// Reading Envelopes (free of CAF, fuzzed).
//
// read_envelope() decodes the Protobuf encoding of troupe.wire.Envelope without copying: the
// type name and the payload stay views into the frame. It follows the Protobuf rules (fields in
// any order, the last occurrence wins, unknown fields skipped) and rejects anything malformed;
// the fuzz target checks it against the generated parser.
//
// inbound_types is the per-connection numbering of payload types: the first Envelope of a type
// carries its name and binds a number; later ones may carry the number only
// (docs/protocol.md). A peer cannot make this table large: numbers are bounded and so is the
// count of distinct bindings per connection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "troupe/nodes/wire/frame.hpp"

namespace troupe::wire {

/// An Envelope as read: the header fields the writer takes (frame.hpp), and the payload.
struct envelope_view : envelope_header {
  std::string_view payload;
};

/// Decodes an Envelope body; false if it is not valid Protobuf for that message.
bool read_envelope(std::string_view body, envelope_view& out);

class inbound_types {
public:
  static constexpr uint32_t max_type_id = 1u << 20;
  static constexpr size_t max_bindings = 4096;

  /// A bound type number; `user` is free for the caller (the broker caches its codec there).
  struct binding {
    std::string name;
    const void* user = nullptr;
  };

  enum class result {
    ok,          // the payload's type is resolved (or there is no payload)
    undeclared,  // a number that was never bound
    out_of_range,
    too_many,  // the peer bound more types than any honest peer would
  };

  /// Resolves the payload type of `env`, binding its number if the envelope names the type.
  /// On ok, `bound` is the number's binding (null for an unnumbered or empty payload), and the
  /// type's name is bound->name or else env.type_name (empty: no payload).
  result resolve(const envelope_view& env, binding*& bound);

private:
  std::unordered_map<uint32_t, binding> bindings_;
};

const char* to_string(inbound_types::result r);

}  // namespace troupe::wire
