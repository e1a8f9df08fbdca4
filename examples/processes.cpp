// processes: the tutorial's multiprocessing.Process snippet.
// Two worker processes each run printer(a, b) (Process(target=printer, args=(...)), start);
// the head waits for each to exit (join) and reports its exit code. The line comes from the
// worker's stdout: printer runs in the other process.
// Run: build/examples/processes
#include <unistd.h>

#include <iostream>
#include <string>

#include "troupe/nodes/ipc/process.hpp"
#include "troupe/nodes/run.hpp"

void printer(std::string a, std::string b) {
  std::cout << a << " " << b << " (from process " << getpid() << ")" << std::endl;
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "processes";
  prog.description = "Two processes each print a greeting; the head joins them.";
  prog.setup = [](troupe::config& cfg) { troupe::add_process_target(cfg, "printer", printer); };
  prog.main = [](troupe::node& node, const troupe::head_options&) {
    auto p1 = troupe::process::start(node, printer, "Hello", "World");
    auto p2 = troupe::process::start(node, printer, "Good", "night");
    if (!p1 || !p2) {
      std::cerr << "error: " << troupe::describe(p1 ? p2.error() : p1.error()) << std::endl;
      return 1;
    }
    for (auto* p : {&*p1, &*p2}) {
      auto code = p->join();
      if (!code) {
        std::cerr << "error: " << troupe::describe(code.error()) << std::endl;
        return 1;
      }
      std::cout << "process " << p->pid() << " exited with status " << *code << std::endl;
    }
    std::cout << "done" << std::endl;
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
