// process_request: the actor way to the tutorial's multiprocessing.Pipe snippet (see pipe for
// troupe::pipe). The head sends ("Hello", "World") to an actor in a worker process, which
// prints it and answers ("Good", "Night"): one typed request/response pair replaces send + recv
// on both ends, and the reply is matched to its request (a timeout, or the process's loss,
// ends the wait with an error).
// Run: build/examples/process_request
#include <iostream>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "troupe/examples/messages.pb.h"
#include "troupe/nodes/ipc/process.hpp"
#include "troupe/nodes/run.hpp"

using troupe::examples::Greeting;

// The other end of the pipe: receive, print, send back, close.
caf::behavior piper(caf::event_based_actor* self) {
  return {
      [self](const Greeting& rx) {
        std::cout << "process in " << rx.first() << " " << rx.second() << std::endl;
        Greeting reply;
        reply.set_first("Good");
        reply.set_second("Night");
        self->quit();
        return reply;
      },
  };
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "process_request";
  prog.description = "The head and a worker process exchange a message each way.";
  prog.setup = [](troupe::config& cfg) {
    cfg.add_messages<Greeting>();
    cfg.add_actor_type("piper", piper);
  };
  prog.main = [](troupe::node& node, const troupe::head_options&) {
    auto p = troupe::process::start(node, "piper");
    if (!p) {
      std::cerr << "error: " << troupe::describe(p.error()) << std::endl;
      return 1;
    }
    Greeting hello;
    hello.set_first("Hello");
    hello.set_second("World");
    caf::scoped_actor self{node.system()};
    int status = 1;
    self->request(p->actor(), std::chrono::seconds{10}, hello)
        .receive(
            [&](const Greeting& rx) {
              std::cout << "process out " << rx.first() << " " << rx.second() << std::endl;
              status = 0;
            },
            [&](caf::error& err) { std::cerr << "error: " << troupe::describe(err) << std::endl; });
    auto exited = p->join();
    if (!exited || status != 0)
      return 1;
    std::cout << "done" << std::endl;
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
