#include "test_program.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <thread>

#include <caf/event_based_actor.hpp>

#include "troupe/nodes/task_runner.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace troupe::test {
namespace {

// Answers Ping with Pong(value * 2); a Ping with text "quit" makes it exit.
caf::behavior echo(caf::event_based_actor* self) {
  return {
    [self](const Ping& ping) -> caf::result<Pong> {
      if (ping.text() == "quit") {
        self->quit();
        return Pong{};
      }
      Pong pong;
      pong.set_value(ping.value() * 2);
      return pong;
    },
  };
}

// Takes requests and never answers them.
caf::behavior blackhole(caf::event_based_actor* self) {
  return {
    [self](const Ping&) { return self->make_response_promise<Pong>(); },
  };
}

int64_t square(int64_t x) {
  return x * x;
}

int64_t fail_on_13(int64_t x) {
  if (x == 13)
    throw std::runtime_error("unlucky 13");
  return x;
}

// Kills its own worker process: the poison task.
int64_t crash(int64_t x) {
  if (x < 0)
    std::abort();
  return x;
}

// Burns about x microseconds of CPU, then returns x.
int64_t spin_us(int64_t x) {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds{x};
  while (std::chrono::steady_clock::now() < until) {
  }
  return x;
}

int64_t worker_pid(int64_t) {
  return getpid();
}

}  // namespace

void setup(config& cfg) {
  cfg.add_messages<Ping, Pong, Big>();
  cfg.add_actor_type("echo", echo);
  cfg.add_actor_type("blackhole", blackhole);
  cfg.tasks()
    .add("square", square)
    .add("fail_on_13", fail_on_13)
    .add("crash", crash)
    .add("spin_us", spin_us)
    .add("worker_pid", worker_pid);
}

void head_config(config& cfg) {
  setup(cfg);
  add_task_runner(cfg);
}

program make_program() {
  program prog;
  prog.name = "nodes_tests";
  prog.description = "troupe node tests (worker / test head mode)";
  prog.setup = setup;
  // A head that starts its workers, prints their pids and waits to be killed.
  prog.main = [](node& n, const head_options& head) {
    for (size_t i = 0; i < head.workers; ++i) {
      auto w = n.start_worker();
      if (!w) {
        std::cerr << "cannot start worker: " << describe(w.error()) << "\n";
        return 1;
      }
      std::cout << "worker " << w->process_id << std::endl;
    }
    std::cout << "ready" << std::endl;
    std::this_thread::sleep_for(std::chrono::minutes{5});
    return 0;
  };
  return prog;
}

}  // namespace troupe::test
