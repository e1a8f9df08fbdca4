// std::optional<T>: the field is present exactly when the optional holds a value (proto3's
// `optional`), so an engaged 0 or "" is written and told apart from nullopt. An optional whose
// T is itself optional or repeated holds T boxed (record.hpp).
#pragma once

#include <optional>

#include "troupe/messages/codec/field.hpp"
#include "troupe/messages/codec/record.hpp"

namespace troupe::codec {

template <wire_value T>
struct field_codec<std::optional<T>> {
  static constexpr auto kind = shape::optional;
  using element_codec = codec::element_codec<T>;
};

}  // namespace troupe::codec
