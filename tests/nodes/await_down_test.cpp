// node::await_down answers why a peer left, whether it is asked before or after the peer is
// gone. A child worker asks right after joining; a head that stopped it at once could say
// goodbye first, and the worker, told "not connected" instead of "shutdown", exited 1.
#include <signal.h>

#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "head_fixture.hpp"
#include "subprocess.hpp"

namespace {

using namespace std::chrono_literals;

struct AwaitDown : troupe::test::head_fixture {
  AwaitDown() : head_fixture(1000ms) {}

  // Waits until the head no longer lists `p` among its peers; false after the timeout.
  bool wait_departed(const troupe::peer& p, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      bool listed = false;
      for (auto& q : head.peers())
        listed = listed || q.id == p.id;
      if (!listed)
        return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

TEST_F(AwaitDown, APeerThatAlreadyLeftAnswersTheReasonItLeftWith) {
  auto w = head.start_worker();
  ASSERT_TRUE(w) << troupe::describe(w.error());
  // One waiter asks while the worker is up, the other only once it is gone.
  auto before = std::async(std::launch::async, [&] { return head.await_down(*w, 30s); });
  ASSERT_EQ(before.wait_for(200ms), std::future_status::timeout) << "down while still up";
  ASSERT_EQ(kill(static_cast<pid_t>(w->process_id), SIGKILL), 0);
  ASSERT_EQ(before.wait_for(30s), std::future_status::ready);
  auto asked_before = before.get();
  ASSERT_TRUE(asked_before.has_value()) << "no down reason within 30 s";
  ASSERT_TRUE(wait_departed(*w, 10s));
  auto asked_after = head.await_down(*w, 10s);
  ASSERT_TRUE(asked_after.has_value()) << "no answer for a departed peer";
  EXPECT_EQ(troupe::describe(*asked_after), troupe::describe(*asked_before));
}

TEST_F(AwaitDown, AStoppedWorkerAnswersShutdownAfterItLeft) {
  auto w = head.start_worker();
  ASSERT_TRUE(w) << troupe::describe(w.error());
  auto status = head.stop_worker(*w);
  ASSERT_TRUE(status) << troupe::describe(status.error());
  ASSERT_TRUE(wait_departed(*w, 10s));
  auto reason = head.await_down(*w, 10s);
  ASSERT_TRUE(reason.has_value());
  EXPECT_TRUE(troupe::is(*reason, troupe::errc::shutdown)) << troupe::describe(*reason);
}

TEST_F(AwaitDown, APeerThatNeverConnectedIsNotConnected) {
  troupe::peer stranger;
  stranger.id = std::numeric_limits<uint64_t>::max();
  auto reason = head.await_down(stranger, 10s);
  ASSERT_TRUE(reason.has_value());
  EXPECT_TRUE(troupe::is(*reason, troupe::errc::node_down)) << troupe::describe(*reason);
  EXPECT_NE(troupe::describe(*reason).find("not connected"), std::string::npos);
}

}  // namespace
