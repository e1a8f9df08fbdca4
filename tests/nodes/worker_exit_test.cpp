// A worker node that loses its head for good exits non-zero once --join-timeout has passed
// without a head, whatever happened to the head (SIGKILL, SIGTERM, SIGINT, SIGSTOP), so that a
// restart policy fires. Real processes: a head (this binary, its process pool holding a task
// runner on the worker, as every pool does) and a --join worker with a short join timeout.
#include <signal.h>

#include <string>

#include <gtest/gtest.h>

#include "subprocess.hpp"

namespace {

using namespace std::chrono_literals;

class WorkerExit : public testing::TestWithParam<int> {
protected:
  // A head whose pool waits for 2 workers, so it keeps the one that joins (and the task runner
  // it spawned there) until the test does something to it.
  void start_head_and_worker() {
    head.emplace(troupe::test::start({troupe::test::self_path(), "head-for-test", "--workers", "0",
                                      "--listen", "127.0.0.1:0", "--pool-wait-for", "2",
                                      "--log-level", "debug", "--heartbeat-interval-ms", "200",
                                      "--heartbeat-timeout-ms", "1000"}));
    ASSERT_TRUE(head->read_until("listening on ", 30s)) << head->output;
    auto at = head->output.find("listening on ");
    auto port = head->output.substr(head->output.find(':', at) + 1);
    port = port.substr(0, port.find_first_not_of("0123456789"));
    worker.emplace(troupe::test::start({troupe::test::self_path(), "--join", "127.0.0.1:" + port,
                                        "--join-timeout", "2", "--heartbeat-interval-ms", "200",
                                        "--heartbeat-timeout-ms", "1000", "--log-level", "info"}));
    ASSERT_TRUE(head->read_until("ready (1 in total)", 30s))
        << "the pool did not take the worker: " << head->output << worker->output;
  }

  void TearDown() override {
    if (head)
      kill(head->pid, SIGCONT);
  }

  std::optional<troupe::test::subprocess> head;
  std::optional<troupe::test::subprocess> worker;
};

TEST_P(WorkerExit, AWorkerWhoseHeadIsGoneExitsNonZeroAfterItsJoinTimeout) {
  start_head_and_worker();
  ASSERT_EQ(kill(head->pid, GetParam()), 0);
  // Bounded: heartbeat timeout (1 s) to notice a stopped head, the join timeout (2 s), a
  // handshake deadline (5 s) for a head that accepts but never answers, and a margin.
  auto status = worker->wait(30s);
  ASSERT_TRUE(status.has_value()) << "the worker still runs without its head: " << worker->output;
  EXPECT_NE(*status, 0) << worker->output;
  EXPECT_NE(worker->output.find("could not join"), std::string::npos) << worker->output;
}

INSTANTIATE_TEST_SUITE_P(HeadFates, WorkerExit, testing::Values(SIGKILL, SIGTERM, SIGINT, SIGSTOP),
                         [](const testing::TestParamInfo<int>& info) {
                           return std::string{sigabbrev_np(info.param)};
                         });

}  // namespace
