// The value codec for numbers, strings, bytes and Protobuf messages: round trips, the bytes
// Protobuf itself writes (google.protobuf wrappers), and malformed or out-of-range input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <google/protobuf/wrappers.pb.h>

#include "troupe/messages/codec.hpp"
#include "troupe/messages/items.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace {

using namespace std::string_literals;

template <class T>
T round_trip(const T& value) {
  T back{};
  EXPECT_TRUE(troupe::decode(troupe::encode(value), back));
  return back;
}

template <class T>
bool decodes(const std::string& bytes) {
  T value{};
  return troupe::decode(bytes, value);
}

enum class color : uint8_t { red = 1, green = 2 };
enum legacy { legacy_a = -3, legacy_b = 7 };

TEST(CodecScalar, IntegersRoundTripAtTheirLimits) {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()})
    EXPECT_EQ(round_trip(v), v);
  EXPECT_EQ(round_trip(std::numeric_limits<uint64_t>::max()), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(round_trip(std::numeric_limits<int32_t>::min()), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(round_trip(uint16_t{65535}), 65535);
  EXPECT_EQ(round_trip(int8_t{-128}), -128);
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip(false), false);
}

TEST(CodecScalar, AnInt64IsInt64ValuesBytes) {
  for (int64_t v : {int64_t{0}, int64_t{300}, int64_t{-5}}) {
    google::protobuf::Int64Value wrapper;
    wrapper.set_value(v);
    EXPECT_EQ(troupe::encode(v), wrapper.SerializeAsString()) << v;
    google::protobuf::Int32Value small;
    small.set_value(static_cast<int32_t>(v));
    EXPECT_EQ(troupe::encode(static_cast<int32_t>(v)), small.SerializeAsString()) << v;
  }
  EXPECT_EQ(troupe::encode(int64_t{300}), "\x08\xac\x02"s);
}

TEST(CodecScalar, FloatingPointIsDoubleValueAndFloatValue) {
  google::protobuf::DoubleValue d;
  d.set_value(-2.5);
  EXPECT_EQ(troupe::encode(-2.5), d.SerializeAsString());
  google::protobuf::FloatValue f;
  f.set_value(1.25f);
  EXPECT_EQ(troupe::encode(1.25f), f.SerializeAsString());
  EXPECT_EQ(round_trip(std::numeric_limits<double>::infinity()),
            std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::signbit(round_trip(-0.0)));
  EXPECT_EQ(troupe::encode(0.0), "");
}

TEST(CodecScalar, StringsAndBytesAreLengthDelimited) {
  google::protobuf::BytesValue b;
  b.set_value("a\0b"s);
  EXPECT_EQ(troupe::encode("a\0b"s), b.SerializeAsString());
  EXPECT_EQ(round_trip(std::string(1000, 'x')), std::string(1000, 'x'));
  std::vector<std::byte> bytes{std::byte{0}, std::byte{0xff}, std::byte{7}};
  EXPECT_EQ(troupe::encode(bytes), "\x0a\x03\x00\xff\x07"s);
  EXPECT_EQ(round_trip(bytes), bytes);
  EXPECT_EQ(troupe::encode(std::string{}), "");
}

TEST(CodecScalar, EnumsAreTheirUnderlyingInteger) {
  EXPECT_EQ(round_trip(color::green), color::green);
  EXPECT_EQ(round_trip(legacy_a), legacy_a);
  EXPECT_EQ(troupe::encode(color::red), "\x08\x01"s);
  EXPECT_FALSE(decodes<color>("\x08\x80\x02"s)) << "256 does not fit uint8_t";
}

TEST(CodecScalar, ProtobufMessagesAreNestedMessages) {
  troupe::test::Ping ping;
  ping.set_value(42);
  ping.set_text("hello");
  EXPECT_EQ(troupe::encode(ping),
            "\x0a"s + static_cast<char>(ping.ByteSizeLong()) + ping.SerializeAsString());
  auto back = round_trip(ping);
  EXPECT_EQ(back.value(), 42);
  EXPECT_EQ(back.text(), "hello");
  EXPECT_EQ(troupe::encode(troupe::test::Ping{}), "\x0a\x00"s) << "a message is always present";
  EXPECT_FALSE(decodes<troupe::test::Ping>("\x0a\x02\x08"s));
}

TEST(CodecScalar, MissingFieldsAreDefaultsAndUnknownFieldsAreSkipped) {
  EXPECT_EQ(round_trip(int64_t{0}), 0);
  int64_t v = 5;
  EXPECT_TRUE(troupe::decode("", v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(troupe::decode("\x10\x07\x08\x03\x1a\x01z"s, v));
  EXPECT_EQ(v, 3);
  EXPECT_TRUE(troupe::decode("\x08\x03\x08\x04"s, v)) << "the last occurrence wins";
  EXPECT_EQ(v, 4);
}

TEST(CodecScalar, NumbersThatDoNotFitTheirTypeAreRefused) {
  auto big = troupe::encode(int64_t{1} << 40);
  EXPECT_FALSE(decodes<int32_t>(big));
  EXPECT_FALSE(decodes<uint32_t>(big));
  EXPECT_FALSE(decodes<int32_t>(troupe::encode(int64_t{std::numeric_limits<int32_t>::max()} + 1)));
  EXPECT_TRUE(decodes<int32_t>(troupe::encode(std::numeric_limits<int32_t>::min())));
  EXPECT_FALSE(decodes<uint64_t>(troupe::encode(-1.0)));
  EXPECT_FALSE(decodes<bool>("\x08\x02"s));
  EXPECT_FALSE(decodes<uint8_t>(troupe::encode(int64_t{-1})));
}

TEST(CodecScalar, MalformedBytesAreRefused) {
  EXPECT_FALSE(decodes<int64_t>("\x08"s)) << "varint missing";
  EXPECT_FALSE(decodes<int64_t>("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s))
      << "varint of 11 bytes";
  EXPECT_FALSE(decodes<int64_t>("\x0a\x01\x00"s)) << "wire type of another shape";
  EXPECT_FALSE(decodes<int64_t>("\x00\x01"s)) << "field number 0";
  EXPECT_FALSE(decodes<int64_t>("\x0b\x0c"s)) << "groups";
  EXPECT_FALSE(decodes<int64_t>("\x0e\x00"s)) << "wire type 6";
  EXPECT_FALSE(decodes<double>("\x09\x00\x00\x00"s)) << "fixed64 cut short";
  EXPECT_FALSE(decodes<float>("\x0d\x00"s)) << "fixed32 cut short";
  EXPECT_FALSE(
      decodes<std::string>("\x0a\x05"
                           "abc"s))
      << "length past the end";
  EXPECT_FALSE(decodes<std::string>("\x0a\xff\xff\xff\xff\x0f"s)) << "a 4 GiB claim in 6 bytes";
  EXPECT_FALSE(
      decodes<int64_t>("\x12\x05"
                       "ab"s))
      << "unknown field cut short";
  EXPECT_FALSE(decodes<int64_t>("\xf8\xff\xff\xff\xff\x01\x00"s)) << "tag past 32 bits";
}

TEST(CodecScalar, MemoryLimitBoundsStrings) {
  std::string s;
  auto bytes = troupe::encode(std::string(100, 'x'));
  // Its heap buffer: 100 bytes and a NUL, with the allocator's overhead.
  auto heap = troupe::codec::reader_state::heap_bytes(101);
  EXPECT_GE(heap, 101u);
  EXPECT_FALSE(troupe::decode(bytes, s, {.max_memory = heap - 1}));
  EXPECT_TRUE(troupe::decode(bytes, s, {.max_memory = heap}));
  std::string small;
  EXPECT_TRUE(troupe::decode(troupe::encode(std::string(15, 'x')), small, {.max_memory = 0}))
      << "a short string lives in the std::string itself";
}

TEST(CodecScalar, ArgumentListsAreFieldsOneToN) {
  std::string out;
  troupe::encode_fields(out, "Hello"s, int64_t{1});
  EXPECT_EQ(out, "\x0a\x05Hello\x10\x01"s);
  std::tuple<std::string, int64_t> back;
  ASSERT_TRUE(troupe::decode_fields(out, back));
  EXPECT_EQ(back, std::tuple("Hello"s, int64_t{1}));
}

TEST(CodecScalar, TheFastPathForNumbersWritesWhatTheGeneralOneWrites) {
  auto both = [](auto... values) {
    std::string fast;
    troupe::items::append_numbers(fast, values...);
    std::string general;
    troupe::items::append_with(general,
                               [&](std::string& body) { troupe::encode_fields(body, values...); });
    EXPECT_EQ(fast, general);
  };
  both(int64_t{0});
  both(int64_t{-1}, 2.5, true, color::green, 1.5f, uint64_t{1} << 63, int8_t{-128}, -0.0);
  both(std::numeric_limits<int64_t>::min(), std::numeric_limits<uint64_t>::max());
  both();
}

}  // namespace
