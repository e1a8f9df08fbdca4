// process_stream: the actor way to the tutorial's multiprocessing.Queue snippet (see
// process_queue for troupe::queue). A consumer actor in a worker process prints what the head's
// producer streams: ("Hello", "World"), ("Good", "Night"), then EndOfStream instead of None. The
// flow crosses the process boundary with credit: the head never sends more than the consumer
// granted (window 2), so a fast producer cannot flood a slow process.
// Run: build/examples/process_stream
#include <iostream>
#include <vector>

#include <caf/actor_system.hpp>

#include "troupe/actors/flow.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/examples/messages.pb.h"
#include "troupe/nodes/ipc/process.hpp"
#include "troupe/nodes/run.hpp"

namespace flow = troupe::flow;
using troupe::examples::Greeting;

// The consumer process's target: print each pair until the end of the stream.
caf::behavior printer(caf::event_based_actor* self) {
  return flow::consumer<Greeting>(
      self,
      [](const Greeting& words) {
        std::cout << words.first() << " " << words.second() << std::endl;
      },
      [](const caf::error&) {}, {.window = 2});
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "process_stream";
  prog.description = "A producer in the head feeds a consumer in a worker process.";
  prog.setup = [](troupe::config& cfg) {
    cfg.add_messages<Greeting>();
    cfg.add_actor_type("printer", printer);
  };
  prog.main = [](troupe::node& node, const troupe::head_options&) {
    auto p = troupe::process::start(node, "printer");
    if (!p) {
      std::cerr << "error: " << troupe::describe(p.error()) << std::endl;
      return 1;
    }
    std::vector<std::pair<std::string, std::string>> items{{"Hello", "World"}, {"Good", "Night"}};
    size_t next = 0;
    auto producer = flow::spawn_producer<Greeting>(node.system(), [&]() -> std::optional<Greeting> {
      if (next == items.size())
        return std::nullopt;
      Greeting words;
      words.set_first(items[next].first);
      words.set_second(items[next].second);
      ++next;
      return words;
    });
    flow::subscribe(producer, p->actor());
    auto status = p->join();
    if (!status) {
      std::cerr << "error: " << troupe::describe(status.error()) << std::endl;
      return 1;
    }
    std::cout << "done" << std::endl;
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
