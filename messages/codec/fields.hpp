// TROUPE_FIELDS(type, field...): makes a struct a task value, its fields numbered 1..N in the
// order given. One line after the struct, in the struct's namespace:
//
//   struct point { double x = 0; double y = 0; std::string label; };
//   TROUPE_FIELDS(point, x, y, label);  // {1: x, 2: y, 3: label}
//
// Each listed member must be public and a task value itself; the struct must be default
// constructible. Append new fields at the end: numbers are positions, as in a .proto file, so a
// reordered list reads old bytes into the wrong members. `type` may be qualified (ns::point) but
// not a template with commas in its arguments (use an alias).
#pragma once

#include <tuple>

#include "troupe/messages/codec/record.hpp"

#define TROUPE_FIELDS(type, ...)                                              \
  [[maybe_unused]] constexpr auto troupe_fields_of(const type*) {             \
    return std::make_tuple(TROUPE_DETAIL_MEMBER_POINTERS(type, __VA_ARGS__)); \
  }                                                                           \
  static_assert(true, "TROUPE_FIELDS(type, field...) takes a semicolon")

// &type::a, &type::b, ...: a for-each over the fields, by repeated rescanning (C++20 __VA_OPT__);
// it covers up to 256 fields.
#define TROUPE_DETAIL_MEMBER_POINTERS(type, ...) \
  __VA_OPT__(TROUPE_DETAIL_EXPAND(TROUPE_DETAIL_MEMBER_STEP(type, __VA_ARGS__)))
#define TROUPE_DETAIL_MEMBER_STEP(type, first, ...) \
  &type::first __VA_OPT__(, TROUPE_DETAIL_MEMBER_AGAIN TROUPE_DETAIL_PARENS(type, __VA_ARGS__))
#define TROUPE_DETAIL_MEMBER_AGAIN() TROUPE_DETAIL_MEMBER_STEP
#define TROUPE_DETAIL_PARENS ()
#define TROUPE_DETAIL_EXPAND(...) \
  TROUPE_DETAIL_EXPAND3(          \
      TROUPE_DETAIL_EXPAND3(TROUPE_DETAIL_EXPAND3(TROUPE_DETAIL_EXPAND3(__VA_ARGS__))))
#define TROUPE_DETAIL_EXPAND3(...) \
  TROUPE_DETAIL_EXPAND2(           \
      TROUPE_DETAIL_EXPAND2(TROUPE_DETAIL_EXPAND2(TROUPE_DETAIL_EXPAND2(__VA_ARGS__))))
#define TROUPE_DETAIL_EXPAND2(...) \
  TROUPE_DETAIL_EXPAND1(           \
      TROUPE_DETAIL_EXPAND1(TROUPE_DETAIL_EXPAND1(TROUPE_DETAIL_EXPAND1(__VA_ARGS__))))
#define TROUPE_DETAIL_EXPAND1(...) __VA_ARGS__
