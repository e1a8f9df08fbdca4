#include "test_program.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <set>
#include <thread>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "troupe/messages/flow.pb.h"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/pool/task_runner.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace troupe::test {
namespace {

namespace flow = troupe::flow;

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

// Checks that Pings arrive in order: value 0, 1, 2, ...; a Ping with text "report" answers
// Pong{received} if all were in order, Pong{-1} otherwise.
caf::behavior sequencer(caf::event_based_actor*) {
  auto expected = std::make_shared<int64_t>(0);
  auto in_order = std::make_shared<bool>(true);
  return {
      [=](const Ping& ping) -> caf::result<Pong> {
        Pong pong;
        if (ping.text() == "report") {
          pong.set_value(*in_order ? *expected : -1);
          return pong;
        }
        *in_order = *in_order && ping.value() == *expected;
        ++*expected;
        return caf::delegated<Pong>{};
      },
  };
}

// Finishes as soon as it starts.
caf::behavior instant(caf::event_based_actor*) {
  return {};
}

// Takes requests and never answers them.
caf::behavior blackhole(caf::event_based_actor* self) {
  return {
      [self](const Ping&) { return self->make_response_promise<Pong>(); },
  };
}

// A consumer that processes nothing until told: it acknowledges (and so grants credit for)
// items only as the test releases them with a Pong carrying a count. Its window is the spawn
// argument. It shows that the producer's side is bounded by demand across processes.
caf::behavior gated_consumer(caf::event_based_actor* self, const Pong& window) {
  struct gate {
    caf::actor producer;
    int64_t held = 0;       // received, not yet acknowledged
    int64_t allowance = 0;  // released, not yet used
  };
  auto st = std::make_shared<gate>();
  auto acknowledge = [self, st] {
    auto n = std::min(st->held, st->allowance);
    if (n == 0 || !st->producer)
      return;
    st->held -= n;
    st->allowance -= n;
    flow::Demand demand;
    demand.set_credit(static_cast<uint32_t>(n));
    demand.set_acknowledged(static_cast<uint32_t>(n));
    self->send(st->producer, demand);
  };
  return {
      [=](const flow::Offer&) {
        st->producer = caf::actor_cast<caf::actor>(self->current_sender());
        flow::Demand demand;
        demand.set_credit(static_cast<uint32_t>(window.value()));
        self->send(st->producer, demand);
      },
      [=](const Ping&) {
        ++st->held;
        acknowledge();
      },
      [=](const Pong& release) {
        st->allowance += release.value();
        acknowledge();
        return Pong{};
      },
      [=](const flow::Flush&) {},
      [=](const flow::EndOfStream&) { self->quit(); },
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

// Sleeps x milliseconds (a long or hung task that leaves the CPU to others), then returns x.
int64_t sleep_ms(int64_t x) {
  std::this_thread::sleep_for(std::chrono::milliseconds{x});
  return x;
}

std::vector<std::function<void(config&)>>& setup_steps() {
  static std::vector<std::function<void(config&)>> steps;
  return steps;
}

}  // namespace

setup_step::setup_step(std::function<void(config&)> step) {
  setup_steps().push_back(std::move(step));
}

void setup(config& cfg) {
  cfg.add_messages<Ping, Pong, Big>();
  cfg.add_actor_type("echo", echo);
  cfg.add_actor_type("blackhole", blackhole);
  cfg.add_actor_type("instant", instant);
  cfg.add_actor_type("sequencer", sequencer);
  cfg.add_actor_type("gated_consumer", gated_consumer);
  cfg.tasks()
      .add("square", square)
      .add("fail_on_13", fail_on_13)
      .add("crash", crash)
      .add("spin_us", spin_us)
      .add("worker_pid", worker_pid)
      .add("sleep_ms", sleep_ms);
  for (auto& step : setup_steps())
    step(cfg);
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
  // --pool-wait-for N: a head whose process pool waits for N workers (up to a minute), says
  // whether they came, and ends.
  auto wanted = std::make_shared<size_t>(0);
  prog.options = [wanted](flags& f) {
    f.option("--pool-wait-for", *wanted, "run a process pool that waits for N workers");
  };
  // A head that starts its workers, prints their pids, then reports nodes joining over TCP
  // ("joined PID") until it is killed.
  prog.main = [wanted](node& n, const head_options& head) {
    if (*wanted > 0) {
      process_pool pool{n, {.workers = head.workers}};
      bool ready = pool.wait_for_workers(*wanted, std::chrono::minutes{1});
      std::cout << (ready ? "workers ready" : "no workers") << std::endl;
      pool.terminate();
      return ready ? 0 : 1;
    }
    for (size_t i = 0; i < head.workers; ++i) {
      auto w = n.start_worker();
      if (!w) {
        std::cerr << "cannot start worker: " << describe(w.error()) << "\n";
        return 1;
      }
      std::cout << "worker " << w->process_id << std::endl;
    }
    if (!head.listen.empty())
      std::cout << "listening " << head.listen_port << std::endl;
    std::cout << "ready" << std::endl;
    std::set<uint64_t> seen;
    auto until = std::chrono::steady_clock::now() + std::chrono::minutes{5};
    while (std::chrono::steady_clock::now() < until) {
      for (auto& p : n.peers())
        if (!p.child && seen.insert(p.id).second)
          std::cout << "joined " << p.process_id << std::endl;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    return 0;
  };
  return prog;
}

}  // namespace troupe::test
