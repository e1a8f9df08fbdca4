// Numbers on the wire: integers, bool and enums as varints, float and double as fixed32/fixed64.
//
// Signed integers are int64-style varints (two's complement, sign-extended: a negative number
// takes 10 bytes), not zigzag sint64: this is what google.protobuf.Int64Value and Protobuf's
// int32/int64 fields carry, so a one-argument int64 call stays Int64Value's bytes and any
// Protobuf peer reads it with an int64 field. A decoded number must fit the C++ type it is read
// into (an int32_t parameter refuses 2^40 instead of truncating it); a bool is 0 or 1.
#pragma once

#include <concepts>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "troupe/messages/codec/field.hpp"

namespace troupe::codec {

template <class T>
concept wire_integer =
    std::is_integral_v<T> && !std::is_same_v<
        T,
        wchar_t> && !std::is_same_v<T, char8_t> && !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t>;

template <wire_integer T>
struct field_codec<T> {
  static constexpr auto kind = shape::singular;
  static constexpr auto wire = wire_format::varint;
  static constexpr bool packable = true;

  static bool is_default(T value) {
    return value == 0;
  }
  static uint64_t raw(T value) {
    if constexpr (std::is_signed_v<T>)
      return static_cast<uint64_t>(static_cast<int64_t>(value));
    else
      return static_cast<uint64_t>(value);
  }
  static void write(std::string& out, T value) {
    wire_format::put_varint(out, raw(value));
  }
  /// Writes the value at `at` (room for max_size bytes); returns the end.
  static constexpr size_t max_size = 10;
  static char* write_to(char* at, T value) {
    return wire_format::write_varint(at, raw(value));
  }
  static bool read(std::string_view& in, T& value, reader_state&) {
    uint64_t raw = 0;
    if (!wire_format::read_varint(in, raw))
      return false;
    if constexpr (std::is_same_v<T, bool>) {
      if (raw > 1)
        return false;
      value = raw == 1;
    } else if constexpr (std::is_signed_v<T>) {
      auto v = static_cast<int64_t>(raw);
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max())
        return false;
      value = static_cast<T>(v);
    } else {
      if (raw > std::numeric_limits<T>::max())
        return false;
      value = static_cast<T>(raw);
    }
    return true;
  }
};

/// An enum travels as its underlying integer; any value of that type is accepted (C++ cannot
/// list an enum's values), so a task that switches over an enum from another process keeps a
/// default branch.
template <class T>
requires std::is_enum_v<T>
struct field_codec<T> {
  using underlying = field_codec<std::underlying_type_t<T>>;
  static constexpr auto kind = shape::singular;
  static constexpr auto wire = wire_format::varint;
  static constexpr bool packable = true;

  static bool is_default(T value) {
    return underlying::is_default(static_cast<std::underlying_type_t<T>>(value));
  }
  static void write(std::string& out, T value) {
    underlying::write(out, static_cast<std::underlying_type_t<T>>(value));
  }
  static constexpr size_t max_size = underlying::max_size;
  static char* write_to(char* at, T value) {
    return underlying::write_to(at, static_cast<std::underlying_type_t<T>>(value));
  }
  static bool read(std::string_view& in, T& value, reader_state& st) {
    std::underlying_type_t<T> v{};
    if (!underlying::read(in, v, st))
      return false;
    value = static_cast<T>(v);
    return true;
  }
};

/// float: fixed32, double: fixed64, little endian (Protobuf's float and double).
template <class T>
requires std::is_same_v<T, float> || std::is_same_v<T, double>
struct field_codec<T> {
  using bits_t = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  static_assert(sizeof(T) == sizeof(bits_t) && std::numeric_limits<T>::is_iec559);
  static constexpr auto kind = shape::singular;
  static constexpr auto wire = sizeof(T) == 8 ? wire_format::fixed64 : wire_format::fixed32;
  static constexpr bool packable = true;

  // Only +0.0 is the default: -0.0 is written, as Protobuf does.
  static bool is_default(T value) {
    bits_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    return bits == 0;
  }
  static void write(std::string& out, T value) {
    char bytes[sizeof(bits_t)];
    out.append(bytes, write_to(bytes, value));
  }
  static constexpr size_t max_size = sizeof(bits_t);
  static char* write_to(char* at, T value) {
    bits_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    for (size_t i = 0; i < sizeof(bits); ++i)
      *at++ = static_cast<char>(bits >> (8 * i));
    return at;
  }
  static bool read(std::string_view& in, T& value, reader_state&) {
    if (in.size() < sizeof(bits_t))
      return false;
    bits_t bits = 0;
    for (size_t i = 0; i < sizeof(bits); ++i)
      bits |= bits_t{static_cast<uint8_t>(in[i])} << (8 * i);
    in.remove_prefix(sizeof(bits));
    std::memcpy(&value, &bits, sizeof(bits));
    return true;
  }
};

}  // namespace troupe::codec
