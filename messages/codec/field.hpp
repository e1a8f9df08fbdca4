// The core of the value codec (troupe/messages/codec.hpp): how one C++ value occupies one field
// of a Protobuf message, and the loop that reads a message's fields back.
//
// Every encodable type T has a field_codec<T> of one of three forms:
//   singular  a value with one wire type (varint, fixed32, fixed64 or length-delimited);
//             written unless it is the proto3 default (0, empty), read by last-one-wins.
//   optional  std::optional of a singular value: written exactly when it holds a value.
//   repeated  containers: 0..n occurrences of the field (packed when the element is a number).
// A type that cannot occupy a field where it stands (a vector inside a vector, an optional inside
// a repeated field) is wrapped as a message whose field 1 it is (boxed<T>, in record.hpp).
//
// Readers parse untrusted bytes: each checks lengths against the bytes it is given; the
// reader_state bounds nesting depth and the memory a decode may allocate.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "troupe/messages/wire_format.hpp"

namespace troupe {

/// Bounds on one decode (see codec.hpp). Depth counts nested messages; memory counts the heap a
/// decode allocates (every buffer a container grows into, every node, every string's buffer, each
/// with the allocator's own overhead), whatever the input claims; hash probes count the elements
/// an insert into an unordered container walks past, so that keys crafted to share a bucket
/// (the hash is the user's, so collisions cannot be ruled out) cost a bounded time.
struct decode_limits {
  uint32_t max_depth = 64;
  size_t max_memory = size_t{256} << 20;
  /// A few probes per element that fits max_memory; a well-spread hash needs about one.
  size_t max_hash_probes = size_t{32} << 20;
};

namespace codec {

using wire_format::wire_type;

enum class shape { singular, optional, repeated };

/// Specialized for every encodable type; the primary template is left undefined so that
/// `wire_value` (codec.hpp) is false for anything else.
template <class T>
struct field_codec;

/// The budget of one decode.
class reader_state {
public:
  explicit reader_state(const decode_limits& limits)
      : depth_left_(limits.max_depth),
        memory_left_(limits.max_memory),
        probes_left_(limits.max_hash_probes) {}

  /// Entering a nested message; false past the depth limit.
  bool enter() {
    if (depth_left_ == 0)
      return false;
    --depth_left_;
    return true;
  }
  void leave() {
    ++depth_left_;
  }

  /// Accounts for `bytes` about to be allocated; false past the memory limit.
  bool charge(size_t bytes) {
    if (bytes > memory_left_)
      return false;
    memory_left_ -= bytes;
    return true;
  }

  /// Accounts for one heap allocation of `bytes` (none when 0), with the allocator's overhead.
  bool charge_allocation(size_t bytes) {
    return bytes == 0 || charge(heap_bytes(bytes));
  }

  /// Accounts for `probes` elements an unordered insert walks; false past the probe limit.
  bool probe(size_t probes) {
    if (probes > probes_left_)
      return false;
    probes_left_ -= probes;
    return true;
  }

  /// What the allocator really takes for `bytes`: glibc's malloc adds a size word, rounds to 16
  /// and never hands out less than 32; other allocators are alike within a word or two.
  static constexpr size_t heap_bytes(size_t bytes) {
    constexpr size_t word = sizeof(void*);
    return std::max(4 * word, (bytes + word + 2 * word - 1) & ~(2 * word - 1));
  }

private:
  uint32_t depth_left_;
  size_t memory_left_;
  size_t probes_left_;
};

template <class T>
concept has_codec = requires {
  field_codec<T>::kind;
};

}  // namespace codec

/// T can be a task's argument or result: encoded and decoded by this codec (troupe/messages/
/// codec.hpp lists the types).
template <class T>
concept wire_value =
    !std::is_reference_v<
        T> && !std::is_const_v<T> && codec::has_codec<T> && std::is_default_constructible_v<T>;

namespace codec {

/// The per-field state a repeated codec keeps while a message is read (std::array counts its
/// elements); empty for everything else.
struct no_state {};

template <class T>
struct field_state {
  using type = no_state;
};

template <class T>
requires requires {
  typename field_codec<T>::state;
}
struct field_state<T> {
  using type = typename field_codec<T>::state;
};

template <class T>
using field_state_t = typename field_state<T>::type;

/// A number: written without a std::string in between (write_to), for the fast path of small
/// records of numbers (items.hpp).
template <class T>
concept fixed_size_number = requires(char* at, const T& v) {
  { field_codec<T>::write_to(at, v) } -> std::same_as<char*>;
  field_codec<T>::max_size;
};

// -- writing --------------------------------------------------------------------------------------

inline void put_tag(std::string& out, uint32_t number, wire_type type) {
  wire_format::put_varint(out, (uint64_t{number} << 3) | type);
}

/// Writes a length prefix and what `body(out)` appends. The length is patched in afterwards, so
/// nothing is sized twice; a body of 128 bytes or more moves once to make room for its prefix.
template <class Body>
void put_length_delimited(std::string& out, Body&& body) {
  auto at = out.size();
  out.push_back(0);
  body(out);
  auto n = out.size() - at - 1;
  if (n < 0x80) {
    out[at] = static_cast<char>(n);
    return;
  }
  char prefix[10];
  auto len = static_cast<size_t>(wire_format::write_varint(prefix, n) - prefix);
  out.insert(at, len - 1, '\0');
  std::memcpy(out.data() + at, prefix, len);
}

/// Writes `value` as field `number` of the message being written.
template <class T>
void write_field(std::string& out, uint32_t number, const T& value) {
  using C = field_codec<T>;
  if constexpr (C::kind == shape::singular) {
    if (C::is_default(value))
      return;
    put_tag(out, number, C::wire);
    C::write(out, value);
  } else if constexpr (C::kind == shape::optional) {
    using E = typename C::element_codec;
    if (!value.has_value())
      return;
    put_tag(out, number, E::wire);
    E::write(out, *value);
  } else {
    C::write_field(out, number, value);
  }
}

// -- reading --------------------------------------------------------------------------------------

/// Reads a field's tag: a varint of at most 5 bytes and 32 bits, as Protobuf's parser requires.
inline bool read_tag(std::string_view& in, uint64_t& tag) {
  auto before = in.size();
  return wire_format::read_varint(in, tag) && before - in.size() <= 5
         && tag <= std::numeric_limits<uint32_t>::max();
}

/// Skips one field of an unknown number. Groups (deprecated, never written by proto3) and the
/// undefined wire types 6 and 7 are malformed here.
inline bool skip_field(uint32_t type, std::string_view& in) {
  uint64_t ignored = 0;
  std::string_view view;
  switch (type) {
    case wire_format::varint:
      return wire_format::read_varint(in, ignored);
    case wire_format::fixed64:
      if (in.size() < 8)
        return false;
      in.remove_prefix(8);
      return true;
    case wire_format::length_delimited:
      return wire_format::read_length_delimited(in, view);
    case wire_format::fixed32:
      if (in.size() < 4)
        return false;
      in.remove_prefix(4);
      return true;
    default:
      return false;
  }
}

/// Reads one occurrence of a field into `value` (its wire type already read).
template <class T>
bool read_field(uint32_t type, std::string_view& in, T& value, field_state_t<T>& state,
                reader_state& st) {
  using C = field_codec<T>;
  if constexpr (C::kind == shape::singular) {
    return type == C::wire && C::read(in, value, st);
  } else if constexpr (C::kind == shape::optional) {
    using E = typename C::element_codec;
    if (type != E::wire)
      return false;
    if (!value.has_value())
      value.emplace();
    return E::read(in, *value, st);
  } else {
    return C::read_occurrence(type, in, value, state, st);
  }
}

/// After the last field: a repeated codec may check what it read (std::array: all N elements).
template <class T>
bool finish_field(T& value, field_state_t<T>& state) {
  if constexpr (requires { field_codec<T>::finish(value, state); })
    return field_codec<T>::finish(value, state);
  else
    return true;
}

template <size_t... I, class... Fields>
bool read_fields_impl(std::index_sequence<I...>, std::string_view in, reader_state& st,
                      Fields&... fields) {
  std::tuple<field_state_t<Fields>...> states;
  while (!in.empty()) {
    uint64_t tag = 0;
    if (!read_tag(in, tag))
      return false;
    auto number = static_cast<uint32_t>(tag >> 3);
    auto type = static_cast<uint32_t>(tag & 7);
    if (number == 0)
      return false;
    bool known = false;
    bool ok = true;
    (void)((number == I + 1
                ? (known = true, ok = read_field(type, in, fields, std::get<I>(states), st), true)
                : false)
           || ...);
    if (!known)
      ok = skip_field(type, in);
    if (!ok)
      return false;
  }
  return (finish_field(fields, std::get<I>(states)) && ...);
}

/// read_fields for a message of one number (a tiny task's argument or result): the same rules,
/// without the general dispatch.
template <class T>
bool read_number_field(std::string_view in, reader_state& st, T& value) {
  using C = field_codec<T>;
  while (!in.empty()) {
    uint64_t tag = 0;
    if (!read_tag(in, tag))
      return false;
    if (tag == ((1u << 3) | C::wire)) {
      if (!C::read(in, value, st))
        return false;
    } else if ((tag >> 3) <= 1 || !skip_field(static_cast<uint32_t>(tag & 7), in)) {
      return false;  // field 0, field 1 of another wire type, or a malformed field
    }
  }
  return true;
}

/// Reads the fields of one message: `fields` are fields 1..N, read into as they are (a field
/// that occurs again merges, as Protobuf does); other field numbers are skipped.
template <class... Fields>
bool read_fields(std::string_view in, reader_state& st, Fields&... fields) {
  if constexpr (sizeof...(Fields) == 1 && (fixed_size_number<Fields> && ...))
    return read_number_field(in, st, fields...);
  else
    return read_fields_impl(std::index_sequence_for<Fields...>{}, in, st, fields...);
}

/// Writes `value` as field `number` at `at` (room for 5 + max_size bytes); returns the end.
template <fixed_size_number T>
char* write_number_field(char* at, uint32_t number, const T& value) {
  using C = field_codec<T>;
  if (C::is_default(value))
    return at;
  at = wire_format::write_varint(at, (uint64_t{number} << 3) | C::wire);
  return C::write_to(at, value);
}

/// Writes fields 1..N.
template <class... Fields>
void write_fields(std::string& out, const Fields&... fields) {
  uint32_t number = 0;
  (write_field(out, ++number, fields), ...);
}

/// Reads a length-delimited payload from the front of `in` and parses it as a nested message
/// with `parse(bytes)`, one level deeper.
template <class Parse>
bool read_nested(std::string_view& in, reader_state& st, Parse&& parse) {
  std::string_view bytes;
  if (!wire_format::read_length_delimited(in, bytes) || !st.enter())
    return false;
  bool ok = parse(bytes);
  st.leave();
  return ok;
}

}  // namespace codec
}  // namespace troupe
