// The troupe program the node tests run as: the gtest binary starts itself as worker processes
// (and, for head-death tests, as a separate head), so head and workers share this setup.
#pragma once

#include <functional>

#include "troupe/nodes/run.hpp"

namespace troupe::test {

/// Messages, actor types and tasks known to every process of the node tests.
void setup(config& cfg);

/// A test file's own registrations, run by setup() in every process of the node tests:
///   static troupe::test::setup_step queue_tasks{[](troupe::config& cfg) { cfg.tasks()...; }};
struct setup_step {
  explicit setup_step(std::function<void(config&)> step);
};

/// The program: setup plus a head main used by the head-death tests ("head-for-test").
program make_program();

/// Builds an actor system configuration for an in-process head.
void head_config(config& cfg);

}  // namespace troupe::test
