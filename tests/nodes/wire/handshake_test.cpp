// The handshake on its own: two state machines talk through buffers, including the ways a
// connection must be refused: version mismatch, wrong or missing secret, replayed or reflected
// proofs, frames out of order.
#include <gtest/gtest.h>

#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/wire/handshake.hpp"

namespace {

using namespace troupe::wire;
using troupe::errc;
using state = handshake::state;

identity id(const std::string& name) {
  return identity{name, 1, std::string(20, 'h')};
}

handshake_options opts(role r, std::string secret = {}) {
  handshake_options o;
  o.role = r;
  o.secret = std::move(secret);
  return o;
}

// Feeds every frame of `in` to `hs`; returns what it answered.
std::vector<char> deliver(handshake& hs, const std::vector<char>& in) {
  frame_decoder decoder;
  decoder.feed(in.data(), in.size());
  frame_view frame;
  std::vector<char> out;
  while (decoder.next(frame) == frame_decoder::status::frame)
    hs.on_frame(frame, out);
  return out;
}

// Runs both sides until neither has anything to say.
void converse(handshake& a, handshake& b) {
  std::vector<char> to_b, to_a;
  a.start(to_b);
  b.start(to_a);
  for (int round = 0; round < 4 && (!to_a.empty() || !to_b.empty()); ++round) {
    auto from_b = deliver(b, to_b);
    auto from_a = deliver(a, to_a);
    to_a = std::move(from_b);
    to_b = std::move(from_a);
  }
}

std::optional<Goodbye> find_goodbye(const std::vector<char>& bytes) {
  frame_decoder decoder;
  decoder.feed(bytes.data(), bytes.size());
  frame_view frame;
  while (decoder.next(frame) == frame_decoder::status::frame)
    if (frame.type == kind::goodbye) {
      Goodbye bye;
      bye.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()));
      return bye;
    }
  return std::nullopt;
}

TEST(Handshake, WithoutSecretsBothSidesAreEstablished) {
  handshake a{id("a"), opts(role::connector)}, b{id("b"), opts(role::acceptor)};
  converse(a, b);
  EXPECT_EQ(a.current(), state::established);
  EXPECT_EQ(b.current(), state::established);
  EXPECT_EQ(a.peer().node_name(), "b");
  EXPECT_EQ(b.peer().node_name(), "a");
}

TEST(Handshake, TheSameSecretAuthenticatesBothWays) {
  handshake a{id("a"), opts(role::connector, "s3cret")}, b{id("b"), opts(role::acceptor, "s3cret")};
  converse(a, b);
  EXPECT_EQ(a.current(), state::established);
  EXPECT_EQ(b.current(), state::established);
}

TEST(Handshake, AWrongSecretIsRefused) {
  handshake a{id("a"), opts(role::connector, "wrong")}, b{id("b"), opts(role::acceptor, "right")};
  converse(a, b);
  EXPECT_EQ(b.current(), state::failed);
  EXPECT_EQ(b.failure_code(), errc::auth_failed);
  EXPECT_NE(a.current(), state::established);
}

TEST(Handshake, AMissingSecretIsRefusedWithAReasonOnBothSides) {
  handshake a{id("a"), opts(role::connector)}, b{id("b"), opts(role::acceptor, "right")};
  converse(a, b);
  EXPECT_EQ(b.current(), state::failed);
  EXPECT_EQ(b.failure_code(), errc::auth_failed);
  EXPECT_NE(b.failure().find("no cluster secret"), std::string::npos) << b.failure();
  EXPECT_EQ(a.current(), state::failed);
  EXPECT_NE(a.failure().find("requires authentication"), std::string::npos) << a.failure();
}

TEST(Handshake, AnotherProtocolVersionIsToldWhy) {
  handshake b{id("b"), opts(role::acceptor)};
  std::vector<char> ignored;
  b.start(ignored);
  Hello future;
  future.set_magic("troupe");
  future.set_protocol_version(2);
  future.set_nonce(std::string(32, 'n'));
  std::vector<char> in;
  append_frame(in, kind::hello, future);
  auto out = deliver(b, in);
  EXPECT_EQ(b.current(), state::failed);
  EXPECT_EQ(b.failure_code(), errc::version_mismatch);
  auto bye = find_goodbye(out);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->code(), static_cast<uint32_t>(errc::version_mismatch));
  EXPECT_NE(bye->reason().find("version 2"), std::string::npos);
}

TEST(Handshake, ARecordedAuthFromAnotherSessionIsRefused) {
  // Session 1: record what an honest connector sent.
  handshake a1{id("a"), opts(role::connector, "k")}, b1{id("b"), opts(role::acceptor, "k")};
  std::vector<char> a_hello, b_hello;
  a1.start(a_hello);
  b1.start(b_hello);
  auto a_auth = deliver(a1, b_hello);  // a's Auth, bound to b1's nonce
  // Session 2: an attacker without the secret replays a's Hello and Auth to a new acceptor.
  handshake b2{id("b"), opts(role::acceptor, "k")};
  std::vector<char> b2_hello;
  b2.start(b2_hello);
  std::vector<char> replay = a_hello;
  replay.insert(replay.end(), a_auth.begin(), a_auth.end());
  deliver(b2, replay);
  EXPECT_EQ(b2.current(), state::failed);
  EXPECT_EQ(b2.failure_code(), errc::auth_failed);
}

TEST(Handshake, ANodesOwnProofReflectedBackIsRefused) {
  handshake b{id("b"), opts(role::acceptor, "k")};
  std::vector<char> b_hello;
  b.start(b_hello);
  // The attacker echoes b's own Hello (same nonce) to get b to prove itself to itself.
  auto out = deliver(b, b_hello);
  EXPECT_EQ(b.current(), state::failed);
  EXPECT_EQ(b.failure_code(), errc::auth_failed);
}

TEST(Handshake, AnEnvelopeBeforeTheHandshakeIsAProtocolError) {
  handshake b{id("b"), opts(role::acceptor)};
  std::vector<char> ignored, in;
  b.start(ignored);
  envelope_header h;
  h.target = 1;
  append_envelope(in, h, std::string_view{});
  auto out = deliver(b, in);
  EXPECT_EQ(b.current(), state::failed);
  EXPECT_EQ(b.failure_code(), errc::protocol_error);
  EXPECT_TRUE(find_goodbye(out));
}

TEST(Handshake, GarbageInsteadOfHelloIsAProtocolError) {
  handshake b{id("b"), opts(role::acceptor)};
  std::vector<char> ignored;
  b.start(ignored);
  std::vector<char> in{0, 0, 0, 5, 1, '\xff', '\xff', '\xff', '\xff'};
  deliver(b, in);
  EXPECT_EQ(b.current(), state::failed);
  EXPECT_EQ(b.failure_code(), errc::protocol_error);
}

TEST(Handshake, AGoodbyeEndsItWithThePeersReason) {
  handshake a{id("a"), opts(role::connector)};
  std::vector<char> ignored, in;
  a.start(ignored);
  Goodbye bye;
  bye.set_code(static_cast<uint32_t>(errc::auth_failed));
  bye.set_reason("go away");
  append_frame(in, kind::goodbye, bye);
  deliver(a, in);
  EXPECT_EQ(a.current(), state::failed);
  EXPECT_EQ(a.failure_code(), errc::auth_failed);
  EXPECT_NE(a.failure().find("go away"), std::string::npos);
}

TEST(Handshake, MacDependsOnRoleAndBothNonces) {
  auto base = auth_mac("k", role::connector, "n1", "n2");
  EXPECT_EQ(base.size(), 32u);
  EXPECT_NE(base, auth_mac("k", role::acceptor, "n1", "n2"));
  EXPECT_NE(base, auth_mac("k", role::connector, "n2", "n1"));
  EXPECT_NE(base, auth_mac("K", role::connector, "n1", "n2"));
  EXPECT_EQ(base, auth_mac("k", role::connector, "n1", "n2"));
}

}  // namespace
