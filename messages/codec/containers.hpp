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
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "troupe/messages/codec/field.hpp"
#include "troupe/messages/codec/record.hpp"

namespace troupe::codec {

/// The links a node of std::map/set or std::unordered_* carries besides its element, at most
/// (libstdc++'s red-black header: color, parent, left, right; a hash node: next and the hash).
constexpr size_t node_links = 4 * sizeof(void*);

/// A floating-point NaN anywhere in `key` (through pairs, tuples and ranges): it is unordered
/// against everything, so a std::set or std::map holding one breaks its own ordering.
template <class T>
bool has_nan(const T& key) {
  if constexpr (std::is_floating_point_v<T>) {
    return key != key;
  } else if constexpr (requires { std::tuple_size<T>::value; }) {
    return std::apply([](const auto&... parts) { return (has_nan(parts) || ...); }, key);
  } else if constexpr (requires { key.begin(); } && !std::is_same_v<T, std::string>) {
    return std::any_of(key.begin(), key.end(), [](const auto& e) { return has_nan(e); });
  } else {
    return false;
  }
}

template <class C>
concept hashed = requires(const C& c) {
  c.bucket_size(0);
};

/// Admits a key about to be looked up: for a hash container, charges the probes its bucket
/// costs (before the lookup walks it); for an ordered one, refuses a NaN.
template <class C, class Key>
bool admit_key(const C& values, const Key& key, reader_state& st) {
  if constexpr (hashed<C>)
    return st.probe(values.bucket_size(values.bucket(key)) + 1);
  else
    return !has_nan(key);
}

/// Charges one new element of a node container: its node and, for a hash container about to
/// rehash, the larger bucket array (libstdc++ at least doubles it: charged as three times).
template <class C>
bool charge_node(const C& values, reader_state& st) {
  if constexpr (hashed<C>) {
    if (values.size() + 1 > values.max_load_factor() * values.bucket_count()
        && !st.charge_allocation(sizeof(void*) * std::max<size_t>(3 * values.bucket_count(), 16)))
      return false;
  }
  return st.charge_allocation(node_links + sizeof(typename C::value_type));
}

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
          // Grown geometrically: many short runs must not reallocate once each. The new buffer
          // is charged in full (the old one stays charged: both live while it moves).
          if (values.capacity() - values.size() < count) {
            auto capacity = std::max(values.size() + count, 2 * values.capacity());
            if (!st.charge_allocation(capacity * sizeof(E)))
              return false;
            values.reserve(capacity);
          }
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

/// Grows the vector itself, doubling as libstdc++ does, so that each new buffer is charged in
/// full before it is allocated.
struct vector_adder {
  template <class C, class E>
  static bool add(C& values, E&& v, no_state&, reader_state& st) {
    if (values.size() == values.capacity()) {
      auto capacity = std::max<size_t>(1, 2 * values.capacity());
      if (!st.charge_allocation(capacity * sizeof(typename C::value_type)))
        return false;
      values.reserve(capacity);
    }
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
    if (!admit_key(values, v, st))
      return false;
    if (values.contains(v))
      return true;
    if (!charge_node(values, st))
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
    if (!ok || !admit_key(values, key, st))
      return false;
    if (auto at = values.find(key); at != values.end()) {
      at->second = std::move(value);
      return true;
    }
    if (!charge_node(values, st))
      return false;
    values.emplace(std::move(key), std::move(value));
    return true;
  }
};

template <wire_value K, wire_value V, class Compare, class A>
struct field_codec<std::map<K, V, Compare, A>> : map_codec<std::map<K, V, Compare, A>, K, V> {};

template <wire_value K, wire_value V, class Hash, class Eq, class A>
struct field_codec<std::unordered_map<K, V, Hash, Eq, A>>
    : map_codec<std::unordered_map<K, V, Hash, Eq, A>, K, V> {};

}  // namespace troupe::codec
