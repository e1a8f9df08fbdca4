// The round trip of a link, measured by its heartbeats (docs/protocol.md, "Heartbeats"). Free of
// CAF, like the rest of wire/.
//
// Heartbeats flow both ways on their own timers, so none answers another. Each instead echoes
// the last sequence it received and how long ago that arrived (echo_delay_us): the sender of the
// echoed beat then knows when it left, and its round trip is
//
//   now - sent(echo_sequence) - echo_delay
//
// Only the last few beats' send times are kept. An echo of a beat never sent (or long gone), or
// a delay longer than the time since the beat left, is ignored: a peer can only spoil the
// figure, never make it negative or name a beat that was not sent.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

namespace troupe::wire {

class heartbeat_clock {
public:
  using clock = std::chrono::steady_clock;

  /// This node sends beat `sequence` now.
  void sent(uint64_t sequence, clock::time_point now) {
    sent_[sequence % sent_.size()] = {sequence, now};
  }

  /// The peer's beat `sequence` arrived now; what the next beat of ours echoes.
  void received(uint64_t sequence, clock::time_point now) {
    if (sequence == 0)
      return;
    last_received_ = sequence;
    received_at_ = now;
  }

  /// The sequence the next beat echoes (0: none received yet) and how long ago it arrived.
  uint64_t echo_sequence() const {
    return last_received_;
  }
  uint64_t echo_delay_us(clock::time_point now) const {
    if (last_received_ == 0)
      return 0;
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - received_at_).count());
  }

  /// The round trip an echo from the peer gives, if it names a beat of ours still known.
  std::optional<clock::duration> round_trip(uint64_t echo_sequence, uint64_t echo_delay_us,
                                            clock::time_point now) const {
    if (echo_sequence == 0)
      return std::nullopt;
    const auto& beat = sent_[echo_sequence % sent_.size()];
    if (beat.sequence != echo_sequence || now < beat.at)
      return std::nullopt;
    auto elapsed = now - beat.at;
    if (echo_delay_us > static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()))
      return std::nullopt;
    return elapsed - std::chrono::microseconds{echo_delay_us};
  }

private:
  struct beat {
    uint64_t sequence = 0;
    clock::time_point at;
  };
  std::array<beat, 8> sent_{};
  uint64_t last_received_ = 0;
  clock::time_point received_at_;
};

}  // namespace troupe::wire
