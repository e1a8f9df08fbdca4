// Values that are messages of their own: std::tuple and std::pair (fields 1..N), user structs
// that list their fields once (TROUPE_FIELDS, fields.hpp), and boxed<T>, the one-field message
// that carries a value where Protobuf cannot nest it (an element that is itself repeated or
// optional). All are length-delimited; a nested message is always written, even when empty.
#pragma once

#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "troupe/messages/codec/field.hpp"

namespace troupe::codec {

/// The codec of a message-like T; `Body` writes and reads T's fields (write_body, read_body).
template <class T, class Body>
struct message_codec {
  static constexpr auto kind = shape::singular;
  static constexpr auto wire = wire_format::length_delimited;
  static constexpr bool packable = false;

  static bool is_default(const T&) {
    return false;
  }
  static void write(std::string& out, const T& value) {
    put_length_delimited(out, [&](std::string& body) { Body::write_body(body, value); });
  }
  static bool read(std::string_view& in, T& value, reader_state& st) {
    return read_nested(in, st,
                       [&](std::string_view body) { return Body::read_body(body, value, st); });
  }
};

// -- tuples and pairs -----------------------------------------------------------------------------

struct tuple_body {
  template <class Tuple>
  static void write_body(std::string& out, const Tuple& value) {
    std::apply([&](const auto&... fields) { write_fields(out, fields...); }, value);
  }
  template <class Tuple>
  static bool read_body(std::string_view in, Tuple& value, reader_state& st) {
    return std::apply([&](auto&... fields) { return read_fields(in, st, fields...); }, value);
  }
};

template <class... Ts>
requires(wire_value<Ts>&&...) struct field_codec<std::tuple<Ts...>>
    : message_codec<std::tuple<Ts...>, tuple_body> {
};

template <class A, class B>
requires wire_value<A> && wire_value<B>
struct field_codec<std::pair<A, B>> : message_codec<std::pair<A, B>, tuple_body> {
};

// -- user structs ---------------------------------------------------------------------------------

// Found by argument-dependent lookup in the struct's namespace (TROUPE_FIELDS defines it).
void troupe_fields_of() = delete;

template <class T>
concept has_field_list = std::is_class_v<T> && requires(const T* p) {
  {troupe_fields_of(p)};
};

struct struct_body {
  template <class T>
  static void write_body(std::string& out, const T& value) {
    std::apply([&](auto... members) { write_fields(out, value.*members...); },
               troupe_fields_of(static_cast<const T*>(nullptr)));
  }
  template <class T>
  static bool read_body(std::string_view in, T& value, reader_state& st) {
    return std::apply([&](auto... members) { return read_fields(in, st, value.*members...); },
                      troupe_fields_of(static_cast<const T*>(nullptr)));
  }
};

template <class T>
requires has_field_list<T>
struct field_codec<T> : message_codec<T, struct_body> {
};

// -- boxing ---------------------------------------------------------------------------------------

/// A value as field 1 of a message of its own.
template <class T>
struct boxed_body {
  static void write_body(std::string& out, const T& value) {
    write_field(out, 1, value);
  }
  static bool read_body(std::string_view in, T& value, reader_state& st) {
    return read_fields(in, st, value);
  }
};

template <class T>
using boxed_codec = message_codec<T, boxed_body<T>>;

/// How a T is written where only a singular value may stand: itself, or boxed.
template <class T>
using element_codec =
    std::conditional_t<field_codec<T>::kind == shape::singular, field_codec<T>, boxed_codec<T>>;

}  // namespace troupe::codec
