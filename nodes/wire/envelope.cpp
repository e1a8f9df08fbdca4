#include "troupe/nodes/wire/envelope.hpp"

#include "troupe/messages/wire_format.hpp"

namespace troupe::wire {

namespace {

using namespace troupe::wire_format;

// Protobuf's parser gives up on groups nested deeper than this.
constexpr int max_group_depth = 100;

bool skip(std::string_view& in, uint32_t field, uint32_t type, int depth = 0);

// Skips an (obsolete, but still valid as an unknown field) group up to its end tag.
bool skip_group(std::string_view& in, uint32_t field, int depth) {
  if (depth >= max_group_depth)
    return false;
  while (!in.empty()) {
    uint64_t tag = 0;
    if (!read_varint(in, tag))
      return false;
    auto tag32 = static_cast<uint32_t>(tag);
    if ((tag32 >> 3) == 0)
      return false;
    if ((tag32 & 7) == end_group)
      return (tag32 >> 3) == field;
    if (!skip(in, tag32 >> 3, tag32 & 7, depth + 1))
      return false;
  }
  return false;
}

bool skip(std::string_view& in, uint32_t field, uint32_t type, int depth) {
  uint64_t ignored = 0;
  std::string_view bytes;
  switch (type) {
    case varint:
      return read_varint(in, ignored);
    case fixed64:
      if (in.size() < 8)
        return false;
      in.remove_prefix(8);
      return true;
    case length_delimited:
      return read_length_delimited(in, bytes);
    case fixed32:
      if (in.size() < 4)
        return false;
      in.remove_prefix(4);
      return true;
    case start_group:
      return skip_group(in, field, depth);
    default:
      return false;  // an end tag without its group, or the wire types 6 and 7 (none exist)
  }
}

}  // namespace

bool read_envelope(std::string_view in, envelope_view& out) {
  out = envelope_view{};
  while (!in.empty()) {
    uint64_t tag = 0;
    if (!read_varint(in, tag))
      return false;
    // Tags are 32-bit: like Protobuf's parser, keep the low 32 bits of a longer varint.
    auto tag32 = static_cast<uint32_t>(tag);
    auto field = tag32 >> 3;
    auto type = tag32 & 7;
    if (field == 0)
      return false;
    uint64_t v = 0;
    if (field >= f_target && field <= f_type_id && type == varint) {
      if (!read_varint(in, v))
        return false;
      switch (field) {
        case f_target:
          out.target = v;
          break;
        case f_sender:
          out.sender = v;
          break;
        case f_request_id:
          out.request_id = v;
          break;
        case f_is_response:
          out.is_response = v != 0;
          break;
        case f_urgent:
          out.urgent = v != 0;
          break;
        case f_type_id:
          out.type_id = static_cast<uint32_t>(v);
          break;  // uint32 truncates
      }
    } else if ((field == f_type_name || field == f_payload) && type == length_delimited) {
      if (!read_length_delimited(in, field == f_type_name ? out.type_name : out.payload))
        return false;
    } else if (!skip(in, field, type)) {
      return false;
    }
  }
  return true;
}

inbound_types::result inbound_types::resolve(const envelope_view& env, binding*& bound) {
  bound = nullptr;
  if (env.type_id > max_type_id)
    return result::out_of_range;
  if (env.type_id == 0)
    return result::ok;  // named without a number, or an empty message
  auto id = env.type_id;
  auto i = bindings_.find(id);
  if (!env.type_name.empty()) {
    if (i == bindings_.end()) {
      if (bindings_.size() >= max_bindings)
        return result::too_many;
      i = bindings_.emplace(id, binding{}).first;
    }
    if (i->second.name != env.type_name) {
      // A peer may rebind a number; its later frames follow the new name.
      i->second.name = std::string{env.type_name};
      i->second.user = nullptr;
    }
  } else if (i == bindings_.end()) {
    return result::undeclared;
  }
  bound = &i->second;
  return result::ok;
}

const char* to_string(inbound_types::result r) {
  switch (r) {
    case inbound_types::result::ok:
      return "ok";
    case inbound_types::result::undeclared:
      return "type number never declared";
    case inbound_types::result::out_of_range:
      return "type number out of range";
    case inbound_types::result::too_many:
      return "too many payload types declared";
  }
  return "unknown";
}

}  // namespace troupe::wire
