// std::string and bytes (std::vector<std::byte>): length-delimited, as Protobuf's bytes. A
// std::string is any bytes here, not checked as UTF-8: a Protobuf peer declares it `bytes` (or
// `string` if it only sends UTF-8).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "troupe/messages/codec/field.hpp"

namespace troupe::codec {

template <class T>
struct byte_string_codec {
  static constexpr auto kind = shape::singular;
  static constexpr auto wire = wire_format::length_delimited;
  static constexpr bool packable = false;

  /// The heap buffer `size` bytes take: a std::string keeps short ones in place and adds a NUL.
  static size_t heap_size(size_t size) {
    if constexpr (std::is_same_v<T, std::string>)
      return size <= std::string{}.capacity() ? 0 : size + 1;
    else
      return size;
  }

  static bool is_default(const T& value) {
    return value.empty();
  }
  static void write(std::string& out, const T& value) {
    wire_format::put_varint(out, value.size());
    out.append(reinterpret_cast<const char*>(value.data()), value.size());
  }
  static bool read(std::string_view& in, T& value, reader_state& st) {
    std::string_view bytes;
    if (!wire_format::read_length_delimited(in, bytes)
        || !st.charge_allocation(heap_size(bytes.size())))
      return false;
    auto* first = reinterpret_cast<const typename T::value_type*>(bytes.data());
    value.assign(first, first + bytes.size());
    return true;
  }
};

template <>
struct field_codec<std::string> : byte_string_codec<std::string> {};

template <>
struct field_codec<std::vector<std::byte>> : byte_string_codec<std::vector<std::byte>> {};

}  // namespace troupe::codec
