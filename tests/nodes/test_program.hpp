// The troupe program the node tests run as: the gtest binary starts itself as worker processes
// (and, for head-death tests, as a separate head), so head and workers share this setup.
#pragma once

#include "troupe/nodes/run.hpp"

namespace troupe::test {

/// Messages, actor types and tasks known to every process of the node tests.
void setup(config& cfg);

/// The program: setup plus a head main used by the head-death tests ("head-for-test").
program make_program();

/// Builds an actor system configuration for an in-process head.
void head_config(config& cfg);

}  // namespace troupe::test
