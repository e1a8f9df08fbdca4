// An in-process head for tests that run worker processes: an actor system with the test
// program's setup, a node with fast heartbeats, and the pids of its worker processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>

#include "test_program.hpp"

namespace troupe::test {

class head_fixture : public testing::Test {
protected:
  explicit head_fixture(std::chrono::milliseconds heartbeat_timeout)
      : sys(prepared(cfg)), head(sys, options(heartbeat_timeout)) {}

  std::vector<pid_t> worker_pids() {
    std::vector<pid_t> pids;
    for (auto& p : head.peers())
      if (p.child)
        pids.push_back(static_cast<pid_t>(p.process_id));
    return pids;
  }

  config cfg;
  caf::actor_system sys;
  node head;

private:
  static config& prepared(config& cfg) {
    head_config(cfg);
    return cfg;
  }

  static node_options options(std::chrono::milliseconds heartbeat_timeout) {
    node_options opts;
    opts.name = "head";
    opts.log_level = "error";
    opts.heartbeat_interval = std::chrono::milliseconds{200};
    opts.heartbeat_timeout = heartbeat_timeout;
    return opts;
  }
};

}  // namespace troupe::test
