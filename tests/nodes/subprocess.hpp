// Test helpers for real processes: start one with its output captured, wait for it with a
// bound, and tell whether a pid still runs (a zombie does not).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace troupe::test {

struct subprocess {
  pid_t pid = -1;
  int out_fd = -1;  // stdout and stderr, merged
  std::string output;

  /// Reads output until `needle` appears or the timeout passes; true if it appeared.
  bool read_until(const std::string& needle, std::chrono::milliseconds timeout);
  /// Waits for the exit status (128 + signal for a signal); nullopt after the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// SIGKILLs and reaps it if still running.
  void kill_now();

  subprocess() = default;
  subprocess(subprocess&& other) noexcept
      : pid(std::exchange(other.pid, -1)),
        out_fd(std::exchange(other.out_fd, -1)),
        output(std::move(other.output)) {}
  subprocess& operator=(subprocess&&) = delete;
  subprocess(const subprocess&) = delete;
  ~subprocess();
};

/// Starts `args[0]` with the given arguments.
subprocess start(const std::vector<std::string>& args);

/// The path of the running test binary.
std::string self_path();

/// Starts this test binary as a head ("head-for-test", tests/nodes/test_program.cpp) with `args`,
/// and `env` (VAR=value each) added to its environment.
subprocess start_test_head(const std::vector<std::string>& args,
                           const std::vector<std::string>& env = {});

/// True if pid exists and is not a zombie.
bool running(pid_t pid);

/// Waits until `pid` no longer runs; false after the timeout.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace troupe::test
