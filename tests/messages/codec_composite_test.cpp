// The value codec for containers, optionals, tuples, pairs and structs: round trips, the bytes
// libprotobuf writes for a message of the same shape, boxing, and hostile input (lengths and
// counts that lie, depth, memory).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "troupe/messages/codec.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace geometry {

struct point {
  double x = 0;
  double y = 0;
  std::string label;
  bool operator==(const point&) const = default;
};
TROUPE_FIELDS(point, x, y, label);

struct polygon {
  std::vector<point> corners;
  std::optional<int32_t> color;
  std::map<std::string, std::vector<int64_t>> tags;
  bool operator==(const polygon&) const = default;
};
TROUPE_FIELDS(polygon, corners, color, tags);

// Recursive through a vector: its depth comes from the data, so the depth limit matters.
struct tree {
  int64_t value = 0;
  std::vector<tree> children;
  bool operator==(const tree&) const = default;
};
TROUPE_FIELDS(tree, value, children);

}  // namespace geometry

namespace {

using namespace std::string_literals;
using geometry::point;

template <class T>
T round_trip(const T& value) {
  T back{};
  EXPECT_TRUE(troupe::decode(troupe::encode(value), back));
  return back;
}

template <class T>
bool decodes(const std::string& bytes, const troupe::decode_limits& limits = {}) {
  T value{};
  return troupe::decode(bytes, value, limits);
}

// The bytes of a single-field message as libprotobuf writes them: T wrapped in field 1.
std::string as_field_one(const google::protobuf::Message& m) {
  auto body = m.SerializeAsString();
  std::string out = "\x0a"s;
  troupe::wire_format::put_varint(out, body.size());
  return out + body;
}

TEST(CodecComposite, VectorsOfNumbersArePackedAsProtobufPacksThem) {
  std::vector<int64_t> v{1, -1, 300, 0};
  troupe::test::Int64s expected;
  for (auto x : v)
    expected.add_values(x);
  EXPECT_EQ(troupe::encode(v), expected.SerializeAsString());
  EXPECT_EQ(round_trip(v), v);
  std::vector<double> d{0.5, -0.0};
  EXPECT_EQ(round_trip(d), d);
  EXPECT_EQ(troupe::encode(std::vector<int64_t>{}), "");
  EXPECT_EQ(round_trip(std::vector<bool>{true, false, true}),
            (std::vector<bool>{true, false, true}));
}

TEST(CodecComposite, UnpackedNumbersAreReadToo) {
  std::vector<int64_t> v;
  ASSERT_TRUE(troupe::decode("\x08\x01\x08\x02\x0a\x02\x03\x04"s, v));
  EXPECT_EQ(v, (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(CodecComposite, StringsAndMessagesRepeatOneFieldPerElement) {
  std::vector<std::string> v{"a", "", "bc"};
  EXPECT_EQ(troupe::encode(v),
            "\x0a\x01"
            "a"
            "\x0a\x00"
            "\x0a\x02"
            "bc"s);
  EXPECT_EQ(round_trip(v), v);
  std::vector<troupe::test::Ping> pings(2);
  pings[1].set_value(9);
  auto back = round_trip(pings);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].value(), 9);
}

TEST(CodecComposite, MapsAreMapFields) {
  std::map<std::string, int64_t> m{{"a", 2}, {"b", 1}};
  troupe::test::StringToInt64 expected;
  (*expected.mutable_values())["a"] = 2;
  (*expected.mutable_values())["b"] = 1;
  troupe::test::StringToInt64 parsed;
  ASSERT_TRUE(parsed.ParseFromString(troupe::encode(m)));
  EXPECT_EQ(parsed.values_size(), 2);
  EXPECT_EQ(parsed.values().at("a"), 2);
  std::map<std::string, int64_t> back;
  ASSERT_TRUE(troupe::decode(expected.SerializeAsString(), back));
  EXPECT_EQ(back, m);
  std::unordered_map<int32_t, std::string> u{{1, "x"}, {0, ""}};
  EXPECT_EQ(round_trip(u), u);
  std::map<int64_t, int64_t> last;
  ASSERT_TRUE(troupe::decode("\x0a\x04\x08\x01\x10\x02\x0a\x04\x08\x01\x10\x03"s, last));
  EXPECT_EQ(last, (std::map<int64_t, int64_t>{{1, 3}})) << "a repeated key keeps its last value";
}

TEST(CodecComposite, SetsAndArraysAreRepeatedFields) {
  std::set<std::string> s{"x", "y"};
  EXPECT_EQ(round_trip(s), s);
  std::unordered_set<int64_t> u{5, 6};
  EXPECT_EQ(round_trip(u), u);
  std::array<int32_t, 3> a{0, -7, 0};
  EXPECT_EQ(round_trip(a), a);
  std::array<int32_t, 3> wrong{};
  EXPECT_FALSE(troupe::decode(troupe::encode(std::vector<int32_t>{1, 2}), wrong)) << "too few";
  EXPECT_FALSE(troupe::decode(troupe::encode(std::vector<int32_t>{1, 2, 3, 4}), wrong))
      << "too many";
}

TEST(CodecComposite, TuplesAndPairsAreMessagesWithFieldsOneToN) {
  std::tuple<std::string, int64_t> t{"Hello", 1};
  troupe::test::StringAndInt64 expected;
  expected.set_text("Hello");
  expected.set_value(1);
  EXPECT_EQ(troupe::encode(t), as_field_one(expected));
  EXPECT_EQ(round_trip(t), t);
  std::pair<int64_t, std::vector<std::string>> p{3, {"a"}};
  EXPECT_EQ(round_trip(p), p);
  EXPECT_EQ(round_trip(std::tuple<>{}), std::tuple<>{});
  EXPECT_EQ(troupe::encode(std::tuple<int64_t>{0}), "\x0a\x00"s) << "a nested message is present";
}

TEST(CodecComposite, StructsListTheirFieldsOnce) {
  point p{1.5, -2, "corner"};
  troupe::test::Point expected;
  expected.set_x(1.5);
  expected.set_y(-2);
  expected.set_label("corner");
  EXPECT_EQ(troupe::encode(p), as_field_one(expected));
  EXPECT_EQ(round_trip(p), p);
  geometry::polygon poly{{p, point{}}, 7, {{"t", {1, 2}}, {"empty", {}}}};
  EXPECT_EQ(round_trip(poly), poly);
  geometry::polygon none{};
  EXPECT_EQ(round_trip(none), none);
}

TEST(CodecComposite, OptionalsTellAnEngagedZeroFromNothing) {
  EXPECT_EQ(troupe::encode(std::optional<int64_t>{}), "");
  EXPECT_EQ(troupe::encode(std::optional<int64_t>{0}), "\x08\x00"s);
  EXPECT_EQ(round_trip(std::optional<int64_t>{0}), std::optional<int64_t>{0});
  EXPECT_EQ(round_trip(std::optional<std::string>{}), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<point>{point{}}), std::optional<point>{point{}});
}

TEST(CodecComposite, WhatProtobufCannotNestIsBoxed) {
  std::vector<std::vector<int64_t>> vv{{1, 2}, {}, {3}};
  // Each inner vector is a message {1: packed}: an empty one is an empty message.
  EXPECT_EQ(troupe::encode(vv),
            "\x0a\x04\x0a\x02\x01\x02"
            "\x0a\x00"
            "\x0a\x03\x0a\x01\x03"s);
  EXPECT_EQ(round_trip(vv), vv);
  std::vector<std::optional<int64_t>> vo{std::nullopt, 0, 5};
  EXPECT_EQ(round_trip(vo), vo);
  std::optional<std::optional<int64_t>> oo{std::optional<int64_t>{}};
  EXPECT_EQ(round_trip(oo), oo);
  std::optional<std::vector<int64_t>> ov{std::vector<int64_t>{}};
  EXPECT_EQ(round_trip(ov), ov) << "an engaged empty vector stays engaged";
  std::map<std::string, std::map<std::string, int64_t>> mm{{"a", {{"b", 1}}}, {"c", {}}};
  EXPECT_EQ(round_trip(mm), mm);
  std::vector<std::map<int64_t, int64_t>> vm{{{1, 1}}, {}};
  EXPECT_EQ(round_trip(vm), vm);
}

TEST(CodecComposite, ACountClaimedInAFewBytesAllocatesNothing) {
  // A packed run that claims a billion elements in its length but carries three bytes.
  std::vector<int64_t> v;
  EXPECT_FALSE(troupe::decode("\x0a\x80\x94\xeb\xdc\x03\x01\x02\x03"s, v));
  // Ten bytes of varints are at most ten elements, whatever the length says.
  std::string run = "\x0a\x0a"s + std::string(10, '\x01');
  ASSERT_TRUE(troupe::decode(run, v));
  EXPECT_EQ(v.size(), 10u);
  EXPECT_LE(v.capacity(), 10u);
}

TEST(CodecComposite, MemoryLimitBoundsElementsOfEveryContainer) {
  // 100000 empty strings: 2 bytes each on the wire, a std::string each in memory.
  std::string bytes;
  for (int i = 0; i < 100000; ++i)
    bytes += "\x0a\x00"s;
  troupe::decode_limits small{.max_memory = 1 << 20};
  EXPECT_FALSE(decodes<std::vector<std::string>>(bytes, small));
  EXPECT_TRUE(decodes<std::vector<std::string>>(bytes));
  EXPECT_FALSE(decodes<std::vector<std::vector<int64_t>>>(bytes, small));
  EXPECT_FALSE(decodes<std::vector<point>>(bytes, small));
  std::string entries;
  for (int64_t i = 1; i <= 100000; ++i) {
    std::string entry;
    troupe::codec::write_field(entry, 1, i);
    entries += "\x0a"s;
    troupe::wire_format::put_varint(entries, entry.size());
    entries += entry;
  }
  EXPECT_FALSE((decodes<std::map<int64_t, std::string>>(entries, small))) << "map entries count";
  // A key that repeats keeps its last value in its one node: nothing more is allocated.
  EXPECT_TRUE((decodes<std::map<int64_t, std::string>>(bytes, small)));
}

TEST(CodecComposite, DepthIsBounded) {
  geometry::tree t{1, {}};
  for (int i = 0; i < 100; ++i)
    t = geometry::tree{i, {t}};
  auto bytes = troupe::encode(t);
  EXPECT_FALSE(decodes<geometry::tree>(bytes)) << "101 levels past the default 64";
  EXPECT_TRUE(decodes<geometry::tree>(bytes, {.max_depth = 200}));
  EXPECT_EQ(round_trip(geometry::tree{1, {{2, {}}, {3, {{4, {}}}}}}),
            (geometry::tree{1, {{2, {}}, {3, {{4, {}}}}}}));
}

TEST(CodecComposite, MalformedNestedInputIsRefused) {
  EXPECT_FALSE(
      decodes<std::vector<std::string>>("\x0a\x02"
                                        "a"s))
      << "element past the end";
  EXPECT_FALSE(decodes<std::vector<std::string>>("\x08\x01"s)) << "element of another type";
  EXPECT_FALSE(decodes<std::vector<double>>("\x0a\x03\x00\x00\x00"s)) << "packed run not 8n bytes";
  EXPECT_FALSE(decodes<std::vector<int64_t>>("\x0a\x01\x80"s)) << "packed varint cut short";
  EXPECT_FALSE(decodes<point>("\x0a\x03\x09\x00\x00"s)) << "struct field cut short";
  EXPECT_FALSE(decodes<point>("\x0a\x02\x08\x01"s)) << "x is a double, not a varint";
  EXPECT_FALSE((decodes<std::map<int64_t, int64_t>>("\x0a\x02\x08"s)));
  EXPECT_FALSE((decodes<std::map<int64_t, int64_t>>("\x08\x01"s))) << "an entry is a message";
  EXPECT_FALSE((decodes<std::tuple<int32_t, int32_t>>("\x0a\x06\x10\x80\x80\x80\x80\x10"s)))
      << "field 2 out of int32 range";
  EXPECT_TRUE((decodes<std::tuple<int32_t>>("\x0a\x02\x18\x05"s))) << "unknown fields skipped";
}

}  // namespace
