// Protobuf messages as CAF messages: local delivery without copies, the CAF binary round trip,
// and corrupt bytes turning into an error value.
#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "troupe/messages/config.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace {

using troupe::test::Ping;

struct test_config : troupe::config {
  test_config() {
    add_messages<Ping, troupe::test::Pong>();
  }
};

Ping make_ping(int64_t value, std::string text) {
  Ping ping;
  ping.set_value(value);
  ping.set_text(std::move(text));
  return ping;
}

class Protobuf : public testing::Test {
protected:
  test_config cfg;
  caf::actor_system sys{cfg};
};

TEST_F(Protobuf, MessageSerializesToExactlyItsProtobufBytes) {
  auto ping = make_ping(42, "hello");
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(ping));
  auto wire = ping.SerializeAsString();
  // CAF writes a string as a varint length followed by the bytes: here one length byte.
  ASSERT_EQ(buf.size(), wire.size() + 1);
  EXPECT_EQ(static_cast<size_t>(buf[0]), wire.size());
  EXPECT_EQ(std::string(buf.begin() + 1, buf.end()), wire);
}

TEST_F(Protobuf, MessageRoundTripsThroughTheBinarySerializer) {
  auto msg = caf::make_message(make_ping(7, "round trip"));
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(msg));
  caf::message copy;
  caf::binary_deserializer source{sys, buf};
  ASSERT_FALSE(source(copy));
  ASSERT_TRUE(copy.match_elements<Ping>());
  EXPECT_EQ(copy.get_as<Ping>(0).value(), 7);
  EXPECT_EQ(copy.get_as<Ping>(0).text(), "round trip");
}

TEST_F(Protobuf, CorruptBytesAreAnErrorValue) {
  // A length-delimited field (tag 2) claiming 100 bytes where only 2 follow.
  std::string corrupt = "\x12\x64\x01\x02";
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(corrupt));
  Ping ping;
  caf::binary_deserializer source{sys, buf};
  auto err = source(ping);
  ASSERT_TRUE(err);
  EXPECT_TRUE(troupe::is(err, troupe::errc::corrupt_payload)) << troupe::describe(err);
  EXPECT_NE(sys.render(err).find("troupe.test.Ping"), std::string::npos) << sys.render(err);
}

TEST_F(Protobuf, RegistryDecodesByNameAndRejectsCorruptBytes) {
  const auto* codec = troupe::message_registry::instance().find("troupe.test.Ping");
  ASSERT_NE(codec, nullptr);
  auto bytes = make_ping(3, "x").SerializeAsString();
  auto msg = codec->decode(bytes.data(), bytes.size());
  ASSERT_TRUE(msg);
  ASSERT_TRUE(msg->match_elements<Ping>());
  EXPECT_EQ(msg->get_as<Ping>(0).value(), 3);
  std::string corrupt = "\x12\x64\x01";
  auto bad = codec->decode(corrupt.data(), corrupt.size());
  ASSERT_FALSE(bad);
  EXPECT_TRUE(troupe::is(bad.error(), troupe::errc::corrupt_payload));
  EXPECT_EQ(troupe::message_registry::instance().find("troupe.test.Nope"), nullptr);
}

TEST_F(Protobuf, LocalDeliveryPassesTheSameObjectWithoutSerializing) {
  auto echo_address = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](const Ping& ping) { return reinterpret_cast<uintptr_t>(&ping); }};
  });
  auto msg = caf::make_message(make_ping(1, "shared"));
  auto original = reinterpret_cast<uintptr_t>(msg.at(0));
  caf::scoped_actor self{sys};
  uintptr_t received = 0;
  self->request(echo_address, std::chrono::seconds(10), msg)
      .receive([&](uintptr_t address) { received = address; },
               [&](caf::error& err) { FAIL() << sys.render(err); });
  EXPECT_EQ(received, original);
}

TEST_F(Protobuf, HandlersMatchAndReturnProtobufTypes) {
  auto doubler = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](const Ping& ping) {
      troupe::test::Pong pong;
      pong.set_value(ping.value() * 2);
      return pong;
    }};
  });
  caf::scoped_actor self{sys};
  int64_t result = 0;
  self->request(doubler, std::chrono::seconds(10), make_ping(21, ""))
      .receive([&](const troupe::test::Pong& pong) { result = pong.value(); },
               [&](caf::error& err) { FAIL() << sys.render(err); });
  EXPECT_EQ(result, 42);
}

}  // namespace
