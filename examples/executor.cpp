// executor: concurrent.futures' Executor interface, the same for threads and for processes.
// run() below submits one call and maps a list; it is given a troupe::thread_pool, then a
// troupe::process_pool: switching threads for processes is the one word in the pool's type.
// Run: build/examples/executor [--workers N]
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "troupe/actors/thread_pool.hpp"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/run.hpp"

// x may come from another process: a square int64_t cannot hold is an error, not undefined
// behaviour.
int64_t square(int64_t x) {
  int64_t result = 0;
  if (__builtin_mul_overflow(x, x, &result))
    throw std::out_of_range{"square(" + std::to_string(x) + ") does not fit in 64 bits"};
  return result;
}

template <class Executor>
void run(Executor& pool, const std::string& name) {
  auto seven = pool.submit(square, int64_t{7});
  auto squares = pool.map(square, std::vector<int64_t>{1, 2, 3, 4});
  std::cout << name << ": " << seven.result();
  for (auto x : squares)
    std::cout << " " << x;
  std::cout << std::endl;
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "executor";
  prog.description = "the same submit and map on a thread pool and on a process pool.";
  prog.setup = [](troupe::config& cfg) { cfg.tasks().add("square", square); };
  prog.main = [](troupe::node& node, const troupe::head_options& head) {
    {
      troupe::thread_pool pool{node.system(), 2};
      run(pool, "threads");
    }
    {
      troupe::process_pool pool{node, {.workers = head.workers}};
      run(pool, "processes");
    }
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
