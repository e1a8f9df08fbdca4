// When a link's heartbeats go out (docs/protocol.md, "Heartbeats"): on a grid of instants that
// every link of one process shares, `interval` apart. Free of CAF, like the rest of wire/.
//
// A node with many peers (a head with 64 idle worker nodes) then sends all its beats in one
// wakeup of its timer and I/O threads per interval. With each link's timer started when its link
// came up, the beats of 64 links were spread over the interval and each one woke both threads:
// bench/hosts_scale.py measured about 0.25 ms/s of the head's CPU per idle node, most of it
// context switches. The grid is shifted by a phase drawn at random once per process, so that
// different processes beat at different instants, as separate hosts would.
//
// A connector (a worker node joining a head) instead puts its grid where its peer's beats
// arrive: a head's idle workers then answer its burst of beats in a burst, which the head reads
// in a few wakeups, instead of each worker's beat waking it at its own instant (the same
// measurement: most of what was left after aligning the head's own beats). Neither side answers
// the other (docs/protocol.md): each keeps beating on its own timer if the other falls silent.
#pragma once

#include <chrono>
#include <random>

namespace troupe::wire {

/// The first instant after `now` on the grid `phase + k * interval` (k any integer;
/// interval > 0): always later than `now`, by at most `interval`.
template <class TimePoint>
TimePoint next_beat(TimePoint now, typename TimePoint::duration interval,
                    typename TimePoint::duration phase) {
  auto since_beat = (now.time_since_epoch() - phase) % interval;  // negative before the phase
  if (since_beat < TimePoint::duration::zero())
    since_beat += interval;
  return now + (interval - since_beat);
}

/// This process's phase of the grid, drawn once.
inline std::chrono::nanoseconds process_beat_phase() {
  static const std::chrono::nanoseconds phase{std::random_device{}()};  // up to 4.3 s
  return phase;
}

/// One link's heartbeat timer: where its next beat is due.
template <class Clock>
class beat_schedule {
public:
  using time_point = typename Clock::time_point;
  using duration = typename Clock::duration;

  /// connector: the side that joined (it follows its peer's beats); interval > 0.
  beat_schedule(duration interval, bool connector, duration process_phase)
      : interval_(interval), connector_(connector), phase_(process_phase) {}

  /// The peer's beat arrived now.
  void peer_beat(time_point now) {
    if (connector_)
      phase_ = now.time_since_epoch() % interval_;
  }

  /// When the next beat is due, asked as the link comes up and as each beat goes out.
  time_point next(time_point now) const {
    return next_beat(now, interval_, phase_);
  }

private:
  duration interval_;
  bool connector_;
  duration phase_;
};

}  // namespace troupe::wire
