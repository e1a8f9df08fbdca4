// processes: the tutorial's multiprocessing.Process snippet.
// Two worker processes each run a printer actor (start); the head waits for each actor and its
// process to finish (join) and reports the exit status. The printer runs in the other process:
// its line comes from the worker's stdout.
// Run: build/examples/processes
#include <unistd.h>

#include <iostream>

#include <caf/event_based_actor.hpp>

#include "troupe/examples/messages.pb.h"
#include "troupe/nodes/process.hpp"
#include "troupe/nodes/run.hpp"

using troupe::examples::Greeting;

// The process's target: print the greeting, then finish.
caf::behavior printer(caf::event_based_actor*, const Greeting& words) {
  std::cout << words.first() << " " << words.second() << " (from process " << getpid() << ")"
            << std::endl;
  return {};
}

Greeting greeting(std::string first, std::string second) {
  Greeting g;
  g.set_first(std::move(first));
  g.set_second(std::move(second));
  return g;
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "processes";
  prog.description = "Two processes each print a greeting; the head joins them.";
  prog.setup = [](troupe::config& cfg) {
    cfg.add_messages<Greeting>();
    cfg.add_actor_type("printer", printer);
  };
  prog.main = [](troupe::node& node, const troupe::head_options&) {
    auto p1 =
        troupe::process::start(node, "printer", caf::make_message(greeting("Hello", "World")));
    auto p2 = troupe::process::start(node, "printer", caf::make_message(greeting("Good", "night")));
    if (!p1 || !p2) {
      std::cerr << "error: " << troupe::describe(p1 ? p2.error() : p1.error()) << std::endl;
      return 1;
    }
    for (auto* p : {&*p1, &*p2}) {
      auto status = p->join();
      if (!status) {
        std::cerr << "error: " << troupe::describe(status.error()) << std::endl;
        return 1;
      }
      std::cout << "process " << p->pid() << " exited with status " << *status << std::endl;
    }
    std::cout << "done" << std::endl;
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
