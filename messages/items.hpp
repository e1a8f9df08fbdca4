// Values of tasks on the wire: how one argument or result becomes bytes, and how many of them
// pack into one troupe.pool.Items message (messages/pool.proto).
//
// A Protobuf message is its own encoding. Plain values use the google.protobuf wrappers'
// encoding (Int64Value, DoubleValue, StringValue, BoolValue, ...: field 1), so a peer in any
// language can read them. Items is `repeated bytes item = 1`, so two encoded Items concatenated
// are one Items holding both runs: batches merge without re-encoding.
//
// read_items() is a parser of untrusted bytes: it checks every length against the buffer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <google/protobuf/message.h>

#include "troupe/messages/wire_format.hpp"

namespace troupe::items {

namespace detail {

constexpr char item_tag = wire_format::make_tag(1, wire_format::length_delimited);  // Items.item

}  // namespace detail

/// Encoding of one value: codec<T>::append(out, value) writes an Items record (tag, length,
/// bytes); codec<T>::parse(bytes, value) reads the bytes of one record.
template <class T, class = void>
struct codec;

template <class T>
struct codec<T, std::enable_if_t<std::is_base_of<google::protobuf::Message, T>::value>> {
  static void append(std::string& out, const T& value) {
    auto size = value.ByteSizeLong();
    out.push_back(detail::item_tag);
    wire_format::put_varint(out, size);
    auto offset = out.size();
    out.resize(offset + size);
    value.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + offset));
  }
  static bool parse(std::string_view bytes, T& value) {
    return value.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  }
};

// Integers and bool: a wrapper's field 1 as a varint (zigzag-free, like Int64Value).
template <class T>
struct codec<T, std::enable_if_t<std::is_integral<T>::value>> {
  static void append(std::string& out, T value) {
    auto v = static_cast<uint64_t>(static_cast<int64_t>(value));
    char record[13];
    record[0] = detail::item_tag;
    if (v == 0) {
      record[1] = 0;
      out.append(record, 2);
      return;
    }
    record[2] = 0x08;
    auto* end = wire_format::write_varint(record + 3, v);
    record[1] = static_cast<char>(end - record - 2);
    out.append(record, end);
  }
  static bool parse(std::string_view bytes, T& value) {
    value = 0;
    while (!bytes.empty()) {
      uint64_t tag = 0;
      uint64_t v = 0;
      if (!wire_format::read_varint(bytes, tag) || (tag & 7) != wire_format::varint
          || !wire_format::read_varint(bytes, v))
        return false;
      if (tag == 0x08)
        value = static_cast<T>(static_cast<int64_t>(v));
    }
    return true;
  }
};

// double and float: DoubleValue / FloatValue, fixed-width little endian.
template <class T>
struct codec<T, std::enable_if_t<std::is_floating_point<T>::value>> {
  using wire_t = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  static constexpr char tag = sizeof(T) == 8 ? 0x09 : 0x0D;
  static void append(std::string& out, T value) {
    wire_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    out.push_back(detail::item_tag);
    out.push_back(static_cast<char>(1 + sizeof(bits)));
    out.push_back(tag);
    for (size_t i = 0; i < sizeof(bits); ++i)
      out.push_back(static_cast<char>(bits >> (8 * i)));
  }
  static bool parse(std::string_view bytes, T& value) {
    value = 0;
    if (bytes.empty())
      return true;
    if (bytes.size() != 1 + sizeof(wire_t) || bytes[0] != tag)
      return false;
    wire_t bits = 0;
    for (size_t i = 0; i < sizeof(bits); ++i)
      bits |= wire_t{static_cast<uint8_t>(bytes[1 + i])} << (8 * i);
    std::memcpy(&value, &bits, sizeof(bits));
    return true;
  }
};

// std::string: StringValue (field 1, length-delimited).
template <>
struct codec<std::string> {
  static void append(std::string& out, const std::string& value) {
    out.push_back(detail::item_tag);
    if (value.empty()) {
      out.push_back(0);
      return;
    }
    wire_format::put_varint(out, 1 + wire_format::varint_size(value.size()) + value.size());
    out.push_back(0x0A);
    wire_format::put_varint(out, value.size());
    out += value;
  }
  static bool parse(std::string_view bytes, std::string& value) {
    value.clear();
    if (bytes.empty())
      return true;
    uint64_t n = 0;
    if (bytes.front() != 0x0A)
      return false;
    bytes.remove_prefix(1);
    if (!wire_format::read_varint(bytes, n) || n != bytes.size())
      return false;
    value.assign(bytes.data(), bytes.size());
    return true;
  }
};

template <class T>
void append(std::string& out, const T& value) {
  codec<T>::append(out, value);
}

/// Appends an empty record (the slot of a failed task).
inline void append_empty(std::string& out) {
  out.push_back(detail::item_tag);
  out.push_back(0);
}

/// Calls f(std::string_view value, std::string_view whole_record) for each record; the whole
/// record includes its tag and length, so runs of records can be cut out unchanged. False on
/// malformed input (a truncated record, or a field other than Items.item), or as soon as f
/// returns false.
template <class F>
bool read_records(std::string_view in, F f) {
  while (!in.empty()) {
    auto start = in;
    if (in.front() != detail::item_tag)
      return false;
    in.remove_prefix(1);
    uint64_t n = 0;
    if (!wire_format::read_varint(in, n) || n > in.size())
      return false;
    auto header = static_cast<size_t>(in.data() - start.data());
    if (!f(in.substr(0, n), start.substr(0, header + n)))
      return false;
    in.remove_prefix(n);
  }
  return true;
}

/// Calls f(std::string_view value) for each record (see read_records).
template <class F>
bool read_items(std::string_view in, F f) {
  return read_records(in, [&](std::string_view value, std::string_view) { return f(value); });
}

}  // namespace troupe::items
