// Uses an installed troupe: its own Protobuf message as an actor message, and the thread pool.
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "job.pb.h"
#include "troupe/actors/thread_pool.hpp"
#include "troupe/messages/config.hpp"

int main() {
  troupe::config cfg;
  cfg.add_messages<consumer::Job>();
  caf::actor_system sys{cfg};
  auto doubler = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](const consumer::Job& job) { return job.value() * 2; }};
  });
  consumer::Job job;
  job.set_value(21);
  caf::scoped_actor self{sys};
  int64_t doubled = 0;
  self->request(doubler, std::chrono::seconds{10}, job)
      .receive([&](int64_t x) { doubled = x; }, [](caf::error&) {});
  troupe::thread_pool pool{sys, 2};
  auto sum = pool.submit([](int64_t a, int64_t b) { return a + b; }, doubled, int64_t{1}).result();
  std::cout << "consumer: " << sum << std::endl;
  self->send_exit(doubler, caf::exit_reason::user_shutdown);
  return sum == 43 ? 0 : 1;
}
