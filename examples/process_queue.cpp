// process_queue: the tutorial's multiprocessing.Queue snippet.
// The head puts ("Hello", "World") and ("Good", "Night") on a troupe::queue that printer, in a
// worker process, gets from; close() ends the stream where the tutorial puts None, and
// q.next() returns nullopt after the last value. (process_stream shows the actor way.)
// Run: build/examples/process_queue
#include <iostream>

#include "troupe/examples/messages.pb.h"
#include "troupe/nodes/ipc/process.hpp"
#include "troupe/nodes/ipc/queue.hpp"
#include "troupe/nodes/run.hpp"

using troupe::examples::Greeting;

Greeting pair(std::string a, std::string b) {
  Greeting g;
  g.set_first(std::move(a));
  g.set_second(std::move(b));
  return g;
}

void printer(troupe::queue<Greeting> q) {
  while (auto v = q.next())
    std::cout << v->first() << " " << v->second() << std::endl;
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "process_queue";
  prog.description = "The head puts two pairs on a queue; a worker process prints them.";
  prog.setup = [](troupe::config& cfg) { troupe::add_process_target(cfg, "printer", printer); };
  prog.main = [](troupe::node& node, const troupe::head_options&) {
    try {
      troupe::queue<Greeting> q{node.system()};
      auto p = troupe::process::start(node, printer, q);
      if (!p) {
        std::cerr << "error: " << troupe::describe(p.error()) << std::endl;
        return 1;
      }
      q.put(pair("Hello", "World"));
      q.put(pair("Good", "Night"));
      q.close();
      auto code = p->join();
      if (!code || *code != 0) {
        std::cerr << "error: printer "
                  << (code ? "exited with " + std::to_string(*code)
                           : troupe::describe(code.error()))
                  << std::endl;
        return 1;
      }
    } catch (const std::exception& ex) {
      std::cerr << "error: " << ex.what() << std::endl;
      return 1;
    }
    std::cout << "done" << std::endl;
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
