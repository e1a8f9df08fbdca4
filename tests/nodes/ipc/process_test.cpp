// troupe::process with function targets: arguments, exitcode (0, 1 after an exception, minus
// the signal), is_alive, join with a timeout, terminate and kill.
#include <unistd.h>

#include <csignal>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "../head_fixture.hpp"
#include "troupe/nodes/ipc/process.hpp"
#include "troupe/nodes/ipc/queue.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::queue;

void report_pid(queue<std::string> q, std::string greeting, int64_t n) {
  q.put(greeting + " " + std::to_string(n) + " from " + std::to_string(getpid()));
}

void throw_now(std::string why) {
  throw std::runtime_error{why};
}

void wait_for(queue<int64_t> gate) {
  gate.get();
}

void not_registered(int64_t) {}

troupe::test::setup_step process_targets{[](troupe::config& cfg) {
  troupe::add_process_target(cfg, "report_pid", report_pid);
  troupe::add_process_target(cfg, "throw_now", throw_now);
  troupe::add_process_target(cfg, "wait_for", wait_for);
}};

struct Process : troupe::test::head_fixture {
  Process() : head_fixture(2000ms) {}
};

TEST_F(Process, RunsAFunctionTargetWithItsArgumentsInAnotherProcess) {
  queue<std::string> q{sys};
  auto p = troupe::process::start(head, report_pid, q, "Hello", 7);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  EXPECT_NE(p->pid(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(q.get(20s), "Hello 7 from " + std::to_string(p->pid()));
  auto code = p->join(20s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(p->exitcode(), 0);
  EXPECT_FALSE(p->is_alive());
}

TEST_F(Process, ATargetThatThrowsExitsWithCodeOne) {
  auto p = troupe::process::start(head, throw_now, "on purpose");
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto code = p->join(20s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, 1);
}

TEST_F(Process, JoinTimesOutWhileTheTargetRunsAndKillEndsItWithMinusNine) {
  queue<int64_t> gate{sys};
  auto p = troupe::process::start(head, wait_for, gate);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  EXPECT_TRUE(p->is_alive());
  EXPECT_FALSE(p->join(100ms));
  EXPECT_EQ(p->exitcode(), std::nullopt);
  p->kill();
  auto code = p->join(10s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, -SIGKILL);
  EXPECT_FALSE(p->is_alive());
  p->kill();  // after the exit: nothing happens
}

TEST_F(Process, TerminateEndsTheProcessWithSigterm) {
  queue<int64_t> gate{sys};
  auto p = troupe::process::start(head, wait_for, gate);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  p->terminate();
  auto code = p->join(10s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, -SIGTERM);  // as Python's Process.terminate()
  EXPECT_FALSE(p->is_alive());
}

TEST_F(Process, TheTargetEndsTheProcessWhenItReturns) {
  queue<int64_t> gate{sys};
  auto p = troupe::process::start(head, wait_for, gate);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  gate.put(1);
  auto code = p->join(20s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, 0);
}

TEST_F(Process, AnUnregisteredFunctionIsRefusedBeforeAnyProcessStarts) {
  auto p = troupe::process::start(head, not_registered, 1);
  ASSERT_FALSE(p);
  EXPECT_TRUE(troupe::is(p.error(), troupe::errc::unknown_task)) << troupe::describe(p.error());
  EXPECT_TRUE(worker_pids().empty());
}

}  // namespace
