// threads: the tutorial's "Multithreading" snippet (Thread start / join) with actors.
// Two actors each print a greeting; main waits for both to finish, like t1.join(), t2.join().
// Run: build/examples/threads
#include <iostream>

#include <caf/actor_ostream.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "troupe/actors/join.hpp"
#include "troupe/messages/config.hpp"
#include "troupe/messages/error.hpp"

// The thread's target: print, then finish. An actor that returns no behavior terminates.
caf::behavior printer(caf::event_based_actor* self, std::string a, std::string b) {
  caf::aout(self) << a << " " << b << std::endl;
  return {};
}

int main() {
  troupe::config cfg;
  caf::actor_system sys{cfg};
  auto t1 = sys.spawn(printer, "Hello", "World");
  auto t2 = sys.spawn(printer, "Good", "night");
  for (auto& t : {t1, t2}) {
    if (auto reason = troupe::join(sys, t); !troupe::exited_normally(reason)) {
      std::cerr << "a printer failed: " << troupe::describe(reason) << std::endl;
      return 1;
    }
  }
  caf::scoped_actor self{sys};
  caf::aout(self) << "done" << std::endl;
}
