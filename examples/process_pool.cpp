// process_pool: the tutorial's multiprocessing.Pool snippet, plus map.
// pool.apply_async(formatter, ("Hello", i), callback=print) with a two-argument formatter(a, b)
// for 100 calls, then close() and join(); map returns results in input order. Tasks are
// functions registered by name in setup, so the worker processes (this same program) run them.
// Run: build/examples/process_pool [--workers N]
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/run.hpp"

std::string formatter(const std::string& a, int64_t b) {
  return a + " " + std::to_string(b);
}

// x comes from another process (the head): a square int64_t cannot hold is an error, not
// undefined behaviour.
int64_t square(int64_t x) {
  int64_t result = 0;
  if (__builtin_mul_overflow(x, x, &result))
    throw std::out_of_range{"square(" + std::to_string(x) + ") does not fit in 64 bits"};
  return result;
}

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = "process_pool";
  prog.description = "apply_async with a callback and map on a pool of worker processes.";
  prog.setup = [](troupe::config& cfg) {
    cfg.tasks().add("formatter", formatter).add("square", square);
  };
  prog.main = [](troupe::node& node, const troupe::head_options& head) {
    troupe::process_pool pool{node, {.workers = head.workers}};
    auto squares = pool.map(square, std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    std::cout << "map:";
    for (auto x : squares)
      std::cout << " " << x;
    std::cout << std::endl;
    std::mutex print_mutex;  // callbacks run on the pool's callback thread, main prints too
    auto print = [&](const std::string& text) {
      std::lock_guard<std::mutex> guard{print_mutex};
      std::cout << text << std::endl;
    };
    for (int64_t i = 0; i < 100; ++i)
      pool.apply_async(formatter, std::tuple{"Hello", i}, print);
    pool.close();
    pool.join();  // every callback has run
    std::cout << "done" << std::endl;
    return 0;
  };
  return troupe::run(argc, argv, prog);
}
