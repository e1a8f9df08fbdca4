// The few pieces of Protobuf's wire format that troupe writes and reads by hand, where going
// through a generated message would copy: task values (items.hpp) and the Envelope of every
// frame (nodes/wire). Free of CAF and of libprotobuf; the readers check every byte they are
// given, since they parse untrusted input (and are fuzzed against Protobuf's own parser).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace troupe::wire_format {

enum wire_type : uint32_t {
  varint = 0,
  fixed64 = 1,
  length_delimited = 2,
  start_group = 3,
  end_group = 4,
  fixed32 = 5,
};

constexpr uint32_t make_tag(uint32_t field, wire_type type) {
  return (field << 3) | type;
}

inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

/// Writes v at `at` (room for 10 bytes); returns the end.
template <class Byte>
Byte* write_varint(Byte* at, uint64_t v) {
  while (v >= 0x80) {
    *at++ = static_cast<Byte>(v | 0x80);
    v >>= 7;
  }
  *at++ = static_cast<Byte>(v);
  return at;
}

/// One append per varint, not per byte: encoding results dominates tiny tasks.
inline void put_varint(std::string& out, uint64_t v) {
  char buf[10];
  out.append(buf, write_varint(buf, v));
}

/// Reads a varint of at most 10 bytes from the front of `in`; bits beyond 64 are dropped, as
/// Protobuf's parser does. False if `in` ends first or the 10th byte says more follow.
inline bool read_varint(std::string_view& in, uint64_t& v) {
  // Most varints on troupe's wire (tags, lengths, small numbers) are one byte.
  if (!in.empty() && static_cast<uint8_t>(in.front()) < 0x80) {
    v = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    return true;
  }
  v = 0;
  for (int shift = 0; shift < 70 && !in.empty(); shift += 7) {
    auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0)
      return true;
  }
  return false;
}

/// Reads a length prefix and that many bytes (a view into `in`).
inline bool read_length_delimited(std::string_view& in, std::string_view& out) {
  uint64_t n = 0;
  if (!read_varint(in, n) || n > in.size())
    return false;
  out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

}  // namespace troupe::wire_format
