// queue: the tutorial's queue.Queue producer/consumer, as a stream with demand.
// The producer puts 0..9 (a timer stands in for sleep(0.1)); the consumer prints each. The
// consumer's window bounds the queue (at most 4 values wait), and EndOfStream replaces the None
// sentinel: the consumer learns the stream ended without a magic value.
// Run: build/examples/queue
#include <chrono>
#include <iostream>

#include <caf/actor_system.hpp>

#include "troupe/actors/flow.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/messages/config.hpp"
#include "troupe/messages/error.hpp"

namespace flow = troupe::flow;

int main() {
  troupe::config cfg;
  caf::actor_system sys{cfg};
  int next = 0;
  auto producer = flow::spawn_producer<int>(
      sys,
      [&next]() -> std::optional<int> { return next < 10 ? std::optional{next++} : std::nullopt; },
      {.interval = std::chrono::milliseconds{100}});
  caf::error failure;  // the stream's error, if it failed; read after the consumer ended
  auto consumer = flow::spawn_consumer<int>(
      sys, [](const int& value) { std::cout << "consumed " << value << std::endl; },
      [&failure](const caf::error& reason) {
        failure = reason;
        if (!reason)
          std::cout << "end of stream" << std::endl;
      },
      {.window = 4});
  flow::subscribe(producer, consumer);
  auto ended = troupe::join_for(sys, consumer, std::chrono::seconds{30});
  if (!ended) {
    std::cerr << "the consumer did not finish within 30 s" << std::endl;
    return 1;
  }
  if (failure || !troupe::exited_normally(*ended)) {
    std::cerr << "stream failed: " << troupe::describe(failure ? failure : *ended) << std::endl;
    return 1;
  }
  std::cout << "done" << std::endl;
}
