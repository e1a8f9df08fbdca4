// Containers are repeated fields: std::vector, std::array, std::set, std::unordered_set; a
// vector or array of numbers is packed (one length-delimited run), as proto3 writes it, and both
// the packed and the unpacked form are read, as Protobuf requires. std::map and
// std::unordered_map are map fields: one entry message {1: key, 2: value} per element; a key
// that occurs twice keeps its last value, as in Protobuf. An element that is itself repeated or
// optional is boxed (record.hpp).
//
// A decode never sizes anything from a count it is told: elements are added as they are read
// (a packed run reserves only what its bytes can hold), each charged to the reader's memory
// budget; a std::array must receive exactly its N elements.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "troupe/messages/codec/field.hpp"
#include "troupe/messages/codec/record.hpp"

namespace troupe::codec {

/// Bytes charged per element of a node-based container, besides the element itself.
constexpr size_t node_overhead = 4 * sizeof(void*);

/// The common part of every repeated codec. `Adder` has
///   static bool add(C&, E&&, state&, reader_state&)   (charges and stores one element)
template <class C, class E, class Adder>
struct repeated_codec {
  static constexpr auto kind = shape::repeated;
  using element = element_codec<E>;

  static void write_field(std::string& out, uint32_t number, const C& values) {
    if constexpr (element::packable) {
      if (values.empty())
        return;
      put_tag(out, number, wire_format::length_delimited);
      put_length_delimited(out, [&](std::string& body) {
        // Numbers go through a buffer on the stack: one append per 256 bytes, not per number.
        char chunk[256];
        char* at = chunk;
        for (const auto& v : values) {
          if (at + element::max_size > chunk + sizeof(chunk)) {
            body.append(chunk, at);
            at = chunk;
          }
          at = element::write_to(at, v);
        }
        body.append(chunk, at);
      });
    } else {
      for (const auto& v : values) {
        put_tag(out, number, element::wire);
        element::write(out, v);
      }
    }
  }

  template <class State>
  static bool read_occurrence(uint32_t type, std::string_view& in, C& values, State& state,
                              reader_state& st) {
    if constexpr (element::packable) {
      if (type == wire_format::length_delimited) {
        std::string_view run;
        if (!wire_format::read_length_delimited(in, run))
          return false;
        if constexpr (requires {
                        values.reserve(size_t{});
                        values.push_back(E{});
                      }) {
          // A packed run holds at most this many elements: one per varint's last byte, or its
          // bytes over the fixed width.
          size_t count = 0;
          if constexpr (element::wire == wire_format::varint) {
            for (char c : run)
              count += (static_cast<uint8_t>(c) & 0x80) == 0;
          } else {
            count = run.size() / (element::wire == wire_format::fixed64 ? 8 : 4);
          }
          if (!st.charge(count * sizeof(E)))
            return false;
          // Grown geometrically: many short runs must not reallocate once each.
          if (values.capacity() - values.size() < count)
            values.reserve(std::max(values.size() + count, 2 * values.capacity()));
          while (!run.empty()) {
            E v{};
            if (!element::read(run, v, st))
              return false;
            values.push_back(std::move(v));
          }
          return true;
        } else {
          while (!run.empty()) {
            E v{};
            if (!element::read(run, v, st) || !Adder::add(values, std::move(v), state, st))
              return false;
          }
          return true;
        }
      }
    }
    if (type != element::wire)
      return false;
    E v{};
    return element::read(in, v, st) && Adder::add(values, std::move(v), state, st);
  }
};

// -- vector ---------------------------------------------------------------------------------------

struct vector_adder {
  template <class C, class E>
  static bool add(C& values, E&& v, no_state&, reader_state& st) {
    if (!st.charge(sizeof(E)))
      return false;
    values.push_back(std::forward<E>(v));
    return true;
  }
};

template <wire_value T, class A>
struct field_codec<std::vector<T, A>> : repeated_codec<std::vector<T, A>, T, vector_adder> {};

// -- array ----------------------------------------------------------------------------------------

struct array_state {
  size_t count = 0;
};

struct array_adder {
  template <class C, class E>
  static bool add(C& values, E&& v, array_state& state, reader_state&) {
    if (state.count == values.size())
      return false;
    values[state.count++] = std::forward<E>(v);
    return true;
  }
};

template <wire_value T, size_t N>
struct field_codec<std::array<T, N>> : repeated_codec<std::array<T, N>, T, array_adder> {
  using state = array_state;
  static bool finish(std::array<T, N>&, const array_state& state) {
    return state.count == N;
  }
};

// -- sets -----------------------------------------------------------------------------------------

struct set_adder {
  template <class C, class E>
  static bool add(C& values, E&& v, no_state&, reader_state& st) {
    if (!st.charge(sizeof(E) + node_overhead))
      return false;
    values.insert(std::forward<E>(v));
    return true;
  }
};

template <wire_value T, class Compare, class A>
struct field_codec<std::set<T, Compare, A>>
    : repeated_codec<std::set<T, Compare, A>, T, set_adder> {};

template <wire_value T, class Hash, class Eq, class A>
struct field_codec<std::unordered_set<T, Hash, Eq, A>>
    : repeated_codec<std::unordered_set<T, Hash, Eq, A>, T, set_adder> {};

// -- maps -----------------------------------------------------------------------------------------

template <class Map, class K, class V>
struct map_codec {
  static constexpr auto kind = shape::repeated;

  static void write_field(std::string& out, uint32_t number, const Map& values) {
    // Not a structured binding: clang before 16 cannot capture one in the lambda.
    for (const auto& kv : values) {
      put_tag(out, number, wire_format::length_delimited);
      put_length_delimited(out, [&](std::string& entry) {
        codec::write_field(entry, 1, kv.first);
        codec::write_field(entry, 2, kv.second);
      });
    }
  }

  static bool read_occurrence(uint32_t type, std::string_view& in, Map& values, no_state&,
                              reader_state& st) {
    if (type != wire_format::length_delimited)
      return false;
    K key{};
    V value{};
    bool ok = read_nested(
        in, st, [&](std::string_view entry) { return read_fields(entry, st, key, value); });
    if (!ok || !st.charge(sizeof(K) + sizeof(V) + node_overhead))
      return false;
    values.insert_or_assign(std::move(key), std::move(value));
    return true;
  }
};

template <wire_value K, wire_value V, class Compare, class A>
struct field_codec<std::map<K, V, Compare, A>> : map_codec<std::map<K, V, Compare, A>, K, V> {};

template <wire_value K, wire_value V, class Hash, class Eq, class A>
struct field_codec<std::unordered_map<K, V, Hash, Eq, A>>
    : map_codec<std::unordered_map<K, V, Hash, Eq, A>, K, V> {};

}  // namespace troupe::codec
