// condition: the tutorial's condition-variable producer/consumer, as a demand of one.
// The consumer grants credit for one value at a time, so the producer hands over a value only
// when the previous one was consumed: what cv.wait_for(lambda: value is None) enforced. No
// lock, no shared variable; the producer's sleep(0.1) is a timer, not a blocked thread.
// Run: build/examples/condition
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
      [&failure](const caf::error& reason) { failure = reason; }, {.window = 1});
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
