// thread_pool: the tutorial's ThreadPoolExecutor snippet.
// 100 calls of printer("Hello", i) on a pool of 10 workers; leaving the scope waits for all of
// them, like the `with` block. Each call returns a future (unused here, as in the tutorial).
// Run: build/examples/thread_pool
#include <iostream>
#include <mutex>

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
  {
    troupe::thread_pool executor{sys, 10};
    for (int i = 0; i < 100; ++i)
      executor.submit(printer, "Hello", i);
  }  // ~thread_pool: shutdown(wait = true)
  std::cout << "done" << std::endl;
}
