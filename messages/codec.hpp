// Task values as bytes: the Protobuf wire format for the types C++ programs pass around.
//
//   std::string bytes = troupe::encode(std::pair{std::string{"a"}, int64_t{1}});
//   std::pair<std::string, int64_t> back;
//   if (!troupe::decode(bytes, back)) { /* malformed, or not this shape */ }
//
// encode(value) is a Protobuf message whose field 1 is `value`; encode_fields(a, b, ...) is one
// whose fields 1..N are a, b, ... (a task's argument list). A peer in any language reads them
// with a .proto of the same shape; the mapping is in docs/protocol.md ("Task values"):
//   integers, bool, enums   varint (int64-style: negatives sign-extended, see codec/scalar.hpp)
//   float, double           fixed32, fixed64
//   std::string, bytes      length-delimited (std::vector<std::byte> is bytes)
//   Protobuf messages       a nested message
//   std::tuple, std::pair   a nested message, fields 1..N
//   structs                 a nested message, fields 1..N as TROUPE_FIELDS lists them
//   std::vector, std::array, std::set, std::unordered_set
//                           a repeated field (packed for numbers)
//   std::map, std::unordered_map
//                           a map field: repeated entries {1: key, 2: value}
//   std::optional           the field is present exactly when the optional holds a value
// An element that Protobuf cannot nest where it stands (a vector inside a vector, an optional in
// a vector or an optional) is boxed: a message whose field 1 it is. Zeros and empty strings are
// left out, as proto3 does; a missing field decodes as its default.
//
// decode() parses untrusted bytes: every length is checked against the input, the nesting depth
// and the memory a decode may allocate are bounded (decode_limits), and it returns false rather
// than trusting anything. A field it does not know is skipped, as Protobuf does; a known field
// of the wrong wire type, or a number that does not fit its C++ type, is malformed.
#pragma once

#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "troupe/messages/codec/bytes.hpp"
#include "troupe/messages/codec/containers.hpp"
#include "troupe/messages/codec/field.hpp"
#include "troupe/messages/codec/fields.hpp"
#include "troupe/messages/codec/optional.hpp"
#include "troupe/messages/codec/protobuf.hpp"
#include "troupe/messages/codec/record.hpp"
#include "troupe/messages/codec/scalar.hpp"

namespace troupe {

namespace codec {

/// One error naming the rule when encode or decode is given a type that is not a wire value,
/// instead of a page of unsatisfied constraints; the callers then compile nothing more for T.
template <class T>
constexpr bool check_wire_value() {
  static_assert(wire_value<T>,
                "troupe: encode/decode take a task value, and this type is not one. Fix: use "
                "integers, floating point, bool, std::string, std::vector<std::byte>, enums, "
                "Protobuf messages, std::vector/array/map/unordered_map/set/optional/pair/tuple "
                "of those, or a struct that lists its fields with TROUPE_FIELDS(type, fields...)");
  return wire_value<T>;
}

template <class T>
void reset(T& value) {
  if constexpr (std::is_base_of_v<google::protobuf::Message, T>)
    value.Clear();
  else
    value = T{};
}

}  // namespace codec

/// Appends a message whose field 1 is `value`.
template <class T>
void encode(std::string& out, const T& value) {
  if constexpr (codec::check_wire_value<T>())
    codec::write_field(out, 1, value);
}

template <class T>
std::string encode(const T& value) {
  std::string out;
  if constexpr (codec::check_wire_value<T>())
    codec::write_field(out, 1, value);
  return out;
}

/// Reads a message whose field 1 is a T into `value` (reset first). False if the bytes are
/// malformed, of another shape, or past `limits`; `value` is then unspecified.
template <class T>
bool decode(std::string_view bytes, T& value, const decode_limits& limits = {}) {
  if constexpr (codec::check_wire_value<T>()) {
    codec::reset(value);
    codec::reader_state st{limits};
    return codec::read_fields(bytes, st, value);
  } else {
    return false;
  }
}

/// Appends a message whose fields 1..N are `values` (a task's argument record).
template <class... Ts>
void encode_fields(std::string& out, const Ts&... values) {
  if constexpr ((codec::check_wire_value<Ts>() && ...))
    codec::write_fields(out, values...);
}

/// Reads a message whose fields 1..N are the elements of `values` (reset first).
template <class... Ts>
bool decode_fields(std::string_view bytes, std::tuple<Ts...>& values,
                   const decode_limits& limits = {}) {
  if constexpr ((codec::check_wire_value<Ts>() && ...)) {
    codec::reader_state st{limits};
    return std::apply(
        [&](Ts&... fields) {
          (codec::reset(fields), ...);
          return codec::read_fields(bytes, st, fields...);
        },
        values);
  } else {
    return false;
  }
}

}  // namespace troupe
