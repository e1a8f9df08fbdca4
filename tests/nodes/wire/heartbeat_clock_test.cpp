// The round trip from echoed heartbeats (wire/heartbeat_clock.hpp), on a clock the test moves.
#include <gtest/gtest.h>

#include <chrono>

#include "troupe/nodes/wire/heartbeat_clock.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::wire::heartbeat_clock;

const heartbeat_clock::clock::time_point t0{1h};

TEST(HeartbeatClock, TheRoundTripLeavesOutHowLongThePeerHeldTheEcho) {
  heartbeat_clock ours;
  ours.sent(7, t0);
  // The peer got beat 7 after 1 ms and echoed it 400 ms later; it arrives 1 ms after that.
  auto rtt = ours.round_trip(7, 400'000, t0 + 402ms);
  ASSERT_TRUE(rtt);
  EXPECT_EQ(*rtt, 2ms);
}

TEST(HeartbeatClock, EchoesWhatItLastReceivedAndHowLongAgo) {
  heartbeat_clock ours;
  EXPECT_EQ(ours.echo_sequence(), 0u);
  EXPECT_EQ(ours.echo_delay_us(t0), 0u);
  ours.received(3, t0);
  ours.received(4, t0 + 500ms);
  EXPECT_EQ(ours.echo_sequence(), 4u);
  EXPECT_EQ(ours.echo_delay_us(t0 + 750ms), 250'000u);
}

TEST(HeartbeatClock, ALyingOrStaleEchoGivesNoFigure) {
  heartbeat_clock ours;
  for (uint64_t s = 1; s <= 20; ++s)
    ours.sent(s, t0 + s * 500ms);
  auto now = t0 + 10'500ms;
  EXPECT_FALSE(ours.round_trip(0, 0, now)) << "nothing echoed";
  EXPECT_FALSE(ours.round_trip(21, 0, now)) << "a beat not sent yet";
  EXPECT_FALSE(ours.round_trip(5, 0, now)) << "a beat no longer remembered";
  EXPECT_FALSE(ours.round_trip(20, 1'000'000, now)) << "held longer than it has been away";
  EXPECT_FALSE(ours.round_trip(20, UINT64_MAX, now)) << "a delay that would overflow";
  ASSERT_TRUE(ours.round_trip(20, 0, now));
  EXPECT_EQ(*ours.round_trip(20, 0, now), 500ms);
}

}  // namespace
