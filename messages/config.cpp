#include "troupe/messages/config.hpp"

#include <algorithm>
#include <thread>

#include <caf/io/middleman.hpp>

#include "troupe/messages/flow.pb.h"
#include "troupe/messages/pool.pb.h"
#include "troupe/messages/wire.pb.h"

namespace troupe {

config::config() {
  load<caf::io::middleman>();
  // Latency: CAF's idle scheduler threads first poll 500 times with 50 us sleeps in between,
  // during which new work does not wake them, so every thread hop of a request could wait up
  // to 50 us. Polling without the sleeps, then waiting on the condition variable (which new
  // work signals at once) measured 2.5x faster round trips between nodes here.
  set("work-stealing.moderate-sleep-duration", caf::timespan{0});
  // Idle cost: a thread with nothing to do then waits on its condition variable for the relaxed
  // sleep duration (CAF's default: 10 ms) before it looks for work to steal, so every idle
  // process woke each of its scheduler threads 100 times a second (a head with a started idle
  // pool burnt ~10 ms CPU a second, each idle worker ~4.5). Work from outside the scheduler
  // (sockets, timers, other threads) signals a sleeping thread at once, so the round trip does
  // not depend on it; only a message one actor sends another on the same thread waits, if that
  // thread stays busy, up to this long for a sleeping thread to steal it. Blocking work runs on
  // detached threads in troupe (thread_pool, the task runner), so scheduler threads are never
  // busy for long. At 100 ms an idle head still spent ~0.6 of its ~1 ms/s on these wakes; at
  // 1 s they are one wake per thread a second, with round trips unchanged (bench: round_trip,
  // local_round_trip, apply_async_latency).
  set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::seconds{1}});
  // One scheduler thread per core, at least two: CAF's default of at least four only adds
  // threads that wake on every relaxed sleep on a machine with fewer cores (and blocking work
  // has threads of its own, see above). Worker processes take two (nodes/run.cpp).
  set("scheduler.max-threads", std::max<size_t>(2, std::thread::hardware_concurrency()));
  add_error_category(error_category,
                     [](uint8_t code, caf::atom_value category, const caf::message& context) {
                       return describe(caf::error{code, category, context});
                     });
  add_messages<flow::Offer, flow::Demand, flow::Flush, flow::EndOfStream, pool::TaskBatch,
               pool::ResultBatch, pool::RevokeBatch, pool::BatchProbe, wire::Error>();
}

}  // namespace troupe
