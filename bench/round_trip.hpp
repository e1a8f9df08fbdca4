// round_trip.hpp: troupe's request round trip, measured the same way whether the actor that
// echoes the Ping lives in this process (troupe_local_bench) or on another node (troupe_bench):
// a remote actor is an ordinary caf::actor, so one loop serves both.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "peers/peer_common.hpp"
#include "troupe/bench/bench.pb.h"
#include "troupe/messages/error.hpp"

namespace round_trip {

struct rtt_run {
  const char* program = "";
  uint64_t warmup = 0;
  uint64_t n = 0;
  std::vector<double> samples_us;  // only touched by the pinger, read after `done`
  std::promise<bool> done;         // false: a request failed
};

// One request at a time, with a timeout as ordinary code (and the raw CAF peer) sets one; each
// response schedules the next, so the stack never grows.
inline void ping_once(caf::event_based_actor* self, caf::actor echo, std::shared_ptr<rtt_run> run,
                      uint64_t i) {
  using clock_type = std::chrono::steady_clock;
  if (i == run->warmup + run->n) {
    run->done.set_value(true);
    self->quit();
    return;
  }
  troupe::bench::Ping ping;
  ping.set_seq(i);
  ping.set_pad(1);  // non-zero, or Protobuf would not send the padding at all
  auto start = clock_type::now();
  self->request(echo, std::chrono::seconds{10}, ping)
      .then(
          [=](const troupe::bench::Ping& echoed) {
            std::chrono::duration<double, std::micro> rtt = clock_type::now() - start;
            if (echoed.seq() != i) {
              std::fprintf(stderr, "%s: ping %llu answered with %llu\n", run->program,
                           static_cast<unsigned long long>(i),
                           static_cast<unsigned long long>(echoed.seq()));
              run->done.set_value(false);
              self->quit();
              return;
            }
            if (i >= run->warmup)
              run->samples_us.push_back(rtt.count());
            ping_once(self, echo, run, i + 1);
          },
          [=](caf::error& err) {
            std::fprintf(stderr, "%s: ping failed: %s\n", run->program,
                         troupe::describe(err).c_str());
            run->done.set_value(false);
            self->quit();
          });
}

inline caf::behavior pinger(caf::event_based_actor* self, caf::actor echo,
                            std::shared_ptr<rtt_run> run) {
  ping_once(self, std::move(echo), std::move(run), 0);
  return {
      [](const troupe::bench::Ping&) {},  // never reached: answers go to the request handlers
  };
}

/// The individual round trips in µs of `trips` requests to `echo` (an actor answering a Ping
/// with itself), after `warmup` untimed ones. Fails the program if a request fails or the run
/// takes more than a minute (a hang, not a slow run).
inline std::vector<double> samples_us(caf::actor_system& sys, const caf::actor& echo,
                                      uint64_t warmup, uint64_t trips, const char* program) {
  auto run = std::make_shared<rtt_run>();
  run->program = program;
  run->warmup = warmup;
  run->n = trips;
  run->samples_us.reserve(trips);
  auto done = run->done.get_future();
  sys.spawn(pinger, echo, run);
  if (done.wait_for(std::chrono::minutes{1}) != std::future_status::ready)
    peers::fail(program, "round trips: timed out");
  if (!done.get())
    peers::fail(program, "a round trip failed");
  return std::move(run->samples_us);
}

/// Median round trip in µs of `trips` requests after trips/10 untimed ones.
inline double median_us(caf::actor_system& sys, const caf::actor& echo, uint64_t trips,
                        const char* program) {
  return peers::median(samples_us(sys, echo, trips / 10, trips, program));
}

}  // namespace round_trip
