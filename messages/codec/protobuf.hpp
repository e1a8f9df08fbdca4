// Generated Protobuf messages: length-delimited, their own encoding (a nested message field).
// Parsing is libprotobuf's, with its own recursion limit; a message occurring twice merges, as
// Protobuf's own parser does.
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/message.h>

#include "troupe/messages/codec/field.hpp"

namespace troupe::codec {

template <class T>
requires std::is_base_of_v<google::protobuf::Message, T>
struct field_codec<T> {
  static constexpr auto kind = shape::singular;
  static constexpr auto wire = wire_format::length_delimited;
  static constexpr bool packable = false;

  static bool is_default(const T&) {
    return false;
  }
  static void write(std::string& out, const T& value) {
    auto size = value.ByteSizeLong();
    wire_format::put_varint(out, size);
    auto offset = out.size();
    out.resize(offset + size);
    value.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + offset));
  }
  static bool read(std::string_view& in, T& value, reader_state& st) {
    std::string_view bytes;
    if (!wire_format::read_length_delimited(in, bytes) || !st.charge(bytes.size())
        || bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
      return false;
    google::protobuf::io::CodedInputStream stream{reinterpret_cast<const uint8_t*>(bytes.data()),
                                                  static_cast<int>(bytes.size())};
    return value.MergeFromCodedStream(&stream) && stream.ConsumedEntireMessage();
  }
};

}  // namespace troupe::codec
