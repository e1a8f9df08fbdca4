// thread_pool: the tutorial's ThreadPoolExecutor snippet.
// 100 calls of printer("Hello", i) on a pool of 10 workers; leaving the scope waits for all of
// them, like the `with` block. The tutorial drops each call's future; here they are kept, so a
// task that failed is reported instead of going unnoticed.
// Run: build/examples/thread_pool
#include <iostream>
#include <mutex>
#include <vector>

#include <caf/actor_system.hpp>

#include "troupe/actors/thread_pool.hpp"
#include "troupe/messages/config.hpp"

std::mutex print_mutex;  // one line at a time: the tasks run in parallel

void printer(const std::string& a, int b) {
  std::lock_guard<std::mutex> guard{print_mutex};
  std::cout << a << " " << b << std::endl;
}

int main() {
  troupe::config cfg;
  caf::actor_system sys{cfg};
  std::vector<troupe::future<void>> futures;
  {
    troupe::thread_pool executor{sys, 10};
    for (int i = 0; i < 100; ++i)
      futures.push_back(executor.submit(printer, "Hello", i));
  }  // ~thread_pool: shutdown() waits for every task
  for (auto& f : futures) {
    if (auto err = f.error()) {
      std::cerr << "a task failed: " << troupe::describe(err) << std::endl;
      return 1;
    }
  }
  std::cout << "done" << std::endl;
}
