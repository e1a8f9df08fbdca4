// Task values in batches: a troupe.pool.Items message (messages/pool.proto) is a run of records,
// one per call or result. Each record's bytes are a message of the codec (codec.hpp): a call's
// arguments as fields 1..N (detail/task_call.hpp), a result as field 1, so a peer in any
// language reads them with a .proto of the same shape (a one-argument int64 call is
// Int64Value's bytes). Items is `repeated bytes item = 1`, so two encoded Items concatenated
// are one Items holding both runs: batches merge without re-encoding.
//
// read_records() is a parser of untrusted bytes: it checks every length against the buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "troupe/messages/codec.hpp"
#include "troupe/messages/wire_format.hpp"

namespace troupe::items {

namespace detail {

constexpr char item_tag = wire_format::make_tag(1, wire_format::length_delimited);  // Items.item

}  // namespace detail

/// Appends one record holding what `body(out)` appends (a message: codec.hpp).
template <class Body>
void append_with(std::string& out, Body&& body) {
  out.push_back(detail::item_tag);
  troupe::codec::put_length_delimited(out, body);
}

/// A record of a few numbers fits a small buffer: one append, no length to patch.
template <class... Ts>
concept few_numbers = sizeof...(Ts) <= 8 && (codec::fixed_size_number<Ts> && ...);

/// Appends one record holding the message {1: values[0], 2: values[1], ...}.
template <class... Ts>
requires few_numbers<Ts...>
void append_numbers(std::string& out, const Ts&... values) {
  // 8 fields of at most 15 bytes: the length always fits one byte.
  char record[2 + 8 * 15];
  record[0] = detail::item_tag;
  char* end = record + 2;
  uint32_t number = 0;
  ((end = codec::write_number_field(end, ++number, values)), ...);
  record[1] = static_cast<char>(end - record - 2);
  out.append(record, end);
}

/// Appends one record holding encode(value): a message whose field 1 is `value`.
template <wire_value T>
void append_value(std::string& out, const T& value) {
  if constexpr (few_numbers<T>)
    append_numbers(out, value);
  else
    append_with(out, [&](std::string& body) { encode(body, value); });
}

/// Appends an empty record (the slot of a failed task, or a void result).
inline void append_empty(std::string& out) {
  out.push_back(detail::item_tag);
  out.push_back(0);
}

/// Today's one-value spelling, kept while the pool moves to detail/task_call.hpp:
/// codec<T>::append(out, value) is append_value, codec<T>::parse(bytes, value) is decode.
template <wire_value T>
struct codec {
  static void append(std::string& out, const T& value) {
    append_value(out, value);
  }
  static bool parse(std::string_view bytes, T& value) {
    return decode(bytes, value);
  }
};

template <wire_value T>
void append(std::string& out, const T& value) {
  append_value(out, value);
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
