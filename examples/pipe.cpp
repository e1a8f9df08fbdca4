// pipe: the tutorial's multiprocessing.Pipe snippet: two processes talking both ways.
// p_conn, c_conn = Pipe(): the head keeps one end and hands the other to piper in a worker
// process, which receives ("Hello", "World"), prints it, sends ("Good", "Night") and closes its
// end. (process_request shows the actor way.)
// Run: build/examples/pipe
#include <iostream>

#include "troupe/examples/messages.pb.h"
#include "troupe/nodes/ipc/pipe.hpp"
#include "troupe/nodes/ipc/process.hpp"
#include "troupe/nodes/run.hpp"

using troupe::examples::Greeting;

Greeting pair(std::string a, std::string b) {
  Greeting g;
  g.set_first(std::move(a));
  g.set_second(std::move(b));
  return g;
}

void piper(troupe::connection<Greeting> conn) {
  auto rx = conn.recv();
  std::cout << "process in " << rx.first() << " " << rx.second() << std::endl;
  conn.send(pair("Good", "Night"));
  conn.close();
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "pipe";
  prog.description = "The head and a worker process exchange a message each way over a pipe.";
  prog.setup = [](troupe::config& cfg) { troupe::add_process_target(cfg, "piper", piper); };
  prog.main = [](troupe::node& node, const troupe::head_options&) {
    try {
      auto [p_conn, c_conn] = troupe::pipe<Greeting>(node.system());
      auto p = troupe::process::start(node, piper, c_conn);
      if (!p) {
        std::cerr << "error: " << troupe::describe(p.error()) << std::endl;
        return 1;
      }
      p_conn.send(pair("Hello", "World"));
      auto rx = p_conn.recv(std::chrono::seconds{30});
      std::cout << "process out " << rx.first() << " " << rx.second() << std::endl;
      p_conn.close();
      auto code = p->join();
      if (!code || *code != 0)
        return 1;
    } catch (const std::exception& ex) {
      std::cerr << "error: " << ex.what() << std::endl;
      return 1;
    }
    std::cout << "done" << std::endl;
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
