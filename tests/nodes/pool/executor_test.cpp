// The Executor interface: the same function through thread_pool and process_pool with submit
// and map, the call sites spelled identically (one generic function serves both).
#include <gtest/gtest.h>

#include "../head_fixture.hpp"
#include "troupe/actors/thread_pool.hpp"
#include "troupe/nodes/pool/process_pool.hpp"

namespace {

using namespace std::chrono_literals;

std::string label(const std::string& name, int64_t n) {
  return name + "#" + std::to_string(n);
}

troupe::test::setup_step executor_tasks{
    [](troupe::config& cfg) { cfg.tasks().add("executor.label", label); }};

struct PoolExecutor : troupe::test::head_fixture {
  PoolExecutor() : head_fixture(1500ms) {}
};

// What a user writes once for either pool.
template <class Executor>
void expect_the_same_results(Executor& pool) {
  EXPECT_EQ(pool.submit(label, "a", 1).result(30s), "a#1");
  std::vector<std::string> names{"x", "y", "z", "too many"};
  std::vector<int64_t> numbers{1, 2, 3};
  EXPECT_EQ(pool.map(label, names, numbers), (std::vector<std::string>{"x#1", "y#2", "z#3"}));
  pool.shutdown({.wait = true, .cancel_futures = false});
  EXPECT_THROW(pool.submit(label, "late", 0).result(10s), troupe::task_error);
}

TEST_F(PoolExecutor, TheSameCallsRunOnThreadsAndOnProcesses) {
  {
    troupe::thread_pool threads{sys, 2};
    expect_the_same_results(threads);
  }
  {
    troupe::process_pool processes{head, {.workers = 2}};
    expect_the_same_results(processes);
  }
}

}  // namespace
