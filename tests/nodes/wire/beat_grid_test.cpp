// The heartbeat grid (wire/beat_grid.hpp): every link of a process beats at the same instants,
// a connector just after its peer.
#include <gtest/gtest.h>

#include <chrono>

#include "troupe/nodes/wire/beat_grid.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using troupe::wire::next_beat;
using schedule = troupe::wire::beat_schedule<clock_type>;

const clock_type::time_point t0{1h};

TEST(BeatGrid, LinksThatCameUpAtDifferentTimesBeatAtTheSameInstants) {
  // Links up 31 ms, 170 ms and 529 ms after t0 on a grid of 500 ms with a phase of 30 ms, each
  // asking for its next beat as it comes up and then as each beat goes out: theirs coincide.
  for (auto up : {31ms, 170ms, 529ms}) {
    auto beat = next_beat(t0 + up, clock_type::duration{500ms}, clock_type::duration{30ms});
    EXPECT_EQ(beat, t0 + 530ms) << "up at t0 + " << up.count() << " ms";
    EXPECT_EQ(next_beat(beat, clock_type::duration{500ms}, clock_type::duration{30ms}),
              t0 + 1030ms);
  }
}

TEST(BeatGrid, TheNextBeatIsAlwaysLaterByAtMostOneInterval) {
  const clock_type::duration interval = 500ms;
  for (auto phase : {0ns, 1ns, 499'999'999ns, 4'294'967'295ns}) {
    for (std::chrono::nanoseconds offset :
         {0ns, 1ns, 250'000'000ns, 499'999'999ns, 500'000'000ns}) {
      auto now = t0 + offset;
      auto beat = next_beat(now, interval, clock_type::duration{phase});
      EXPECT_GT(beat, now);
      EXPECT_LE(beat - now, interval);
      EXPECT_EQ((beat.time_since_epoch() - phase) % interval, clock_type::duration::zero());
    }
  }
}

TEST(BeatGrid, ABeatDueNowIsNotSentTwice) {
  // A tick that runs exactly on its instant schedules the next one an interval later.
  auto beat = next_beat(t0 + 30ms, clock_type::duration{500ms}, clock_type::duration{30ms});
  EXPECT_EQ(beat, t0 + 530ms);
}

TEST(BeatGrid, AConnectorBeatsRightAfterItsPeersBeatsArrive) {
  schedule worker{500ms, true, 30ms};
  EXPECT_EQ(worker.next(t0 + 100ms), t0 + 530ms) << "on its own grid until it hears its peer";
  worker.peer_beat(t0 + 1'210ms);
  EXPECT_EQ(worker.next(t0 + 1'300ms), t0 + 1'710ms);
  // The peer's beats drift (a loaded host): the next beat follows the last arrival.
  worker.peer_beat(t0 + 1'712ms);
  EXPECT_EQ(worker.next(t0 + 1'712ms), t0 + 2'212ms);
}

TEST(BeatGrid, AnAcceptorKeepsItsProcesssGridWhateverItsPeersDo) {
  // A head's links all beat together, on its grid, not on each worker's.
  schedule head{500ms, false, 30ms};
  head.peer_beat(t0 + 1'210ms);
  EXPECT_EQ(head.next(t0 + 1'300ms), t0 + 1'530ms);
}

TEST(BeatGrid, ThePhaseIsDrawnOncePerProcess) {
  EXPECT_EQ(troupe::wire::process_beat_phase(), troupe::wire::process_beat_phase());
}

}  // namespace
