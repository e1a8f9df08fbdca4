// troupe::pipe between the head and a worker process: both directions, poll, the end when an
// end closes or its target returns, a killed holder, and a close the worker did not own.
#include <csignal>
#include <future>
#include <string>

#include <gtest/gtest.h>

#include "../frame_limit_check.hpp"
#include "../head_fixture.hpp"
#include "troupe/nodes/ipc/handle_access.hpp"
#include "troupe/nodes/ipc/pipe.hpp"
#include "troupe/nodes/ipc/process.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::connection;

void answer_once(connection<std::string> conn) {
  auto rx = conn.recv();
  conn.send("got " + rx);
  conn.close();
}

void send_and_return(connection<std::string> conn) {
  conn.send("bye");
}

void recv_forever(connection<std::string> conn) {
  conn.recv();
}

// A lying worker: closes the writing side of the head's direction, which is not its own.
void close_the_heads_side(connection<std::string> conn) {
  try {
    troupe::ipc::close(troupe::ipc::handle_access::in(conn), true, false);
    conn.send("accepted");
  } catch (const troupe::channel_error& err) {
    conn.send(std::string{"refused: "} + err.what());
  }
  conn.send("then got " + conn.recv());
}

constexpr size_t over_the_limit = 17 * 1024 * 1024;  // the default frame limit is 16 MiB

// Sends a value over the frame limit, then what it was told; answers the head's next value.
void send_too_large(connection<std::string> conn) {
  try {
    conn.send(std::string(over_the_limit, 'x'), 5s);
    conn.send("accepted");
  } catch (const troupe::channel_error& err) {
    conn.send(std::string{"refused: "} + err.what());
  }
  conn.send("got " + std::to_string(conn.recv(20s).size()));
}

troupe::test::setup_step pipe_targets{[](troupe::config& cfg) {
  troupe::add_process_target(cfg, "send_too_large", send_too_large);
  troupe::add_process_target(cfg, "answer_once", answer_once);
  troupe::add_process_target(cfg, "send_and_return", send_and_return);
  troupe::add_process_target(cfg, "recv_forever", recv_forever);
  troupe::add_process_target(cfg, "close_the_heads_side", close_the_heads_side);
}};

struct Pipe : troupe::test::head_fixture {
  Pipe() : head_fixture(2000ms) {}
};

TEST_F(Pipe, CarriesValuesBothWaysAndPollSeesThemAndTheEnd) {
  auto [parent, child] = troupe::pipe<std::string>(sys);
  auto p = troupe::process::start(head, answer_once, child);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  EXPECT_FALSE(parent.poll());
  EXPECT_FALSE(parent.poll(50ms));
  parent.send("Hello");
  EXPECT_TRUE(parent.poll(20s));
  EXPECT_EQ(parent.recv(20s), "got Hello");
  EXPECT_TRUE(parent.poll(20s)) << "the child closed its end: recv does not wait";
  EXPECT_THROW(parent.recv(20s), troupe::closed_error);
  EXPECT_THROW(parent.send("more", 20s), troupe::closed_error);
  auto code = p->join(20s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
}

TEST_F(Pipe, AChildEndClosesWhenItsTargetReturns) {
  auto [parent, child] = troupe::pipe<std::string>(sys);
  auto p = troupe::process::start(head, send_and_return, child);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  EXPECT_EQ(parent.recv(20s), "bye");
  EXPECT_THROW(parent.recv(20s), troupe::closed_error);
  ASSERT_TRUE(p->join(20s));
}

TEST_F(Pipe, ALocalPipeWorksBetweenThreadsAndAClosedEndRefusesUse) {
  auto [a, b] = troupe::pipe<int64_t>(sys, 1);
  a.send(1);
  EXPECT_THROW(a.send(2, 50ms), troupe::timeout_error) << "maxsize 1: the second send waits";
  EXPECT_EQ(b.recv(), 1);
  b.send(5);
  EXPECT_EQ(a.recv(), 5);
  a.close();
  EXPECT_THROW(a.send(3), troupe::closed_error);
  EXPECT_THROW(b.recv(1s), troupe::closed_error);
  EXPECT_THROW(b.send(4, 1s), troupe::closed_error);
}

TEST_F(Pipe, AKilledChildFailsABlockedRecvWithPeerLost) {
  auto [parent, child] = troupe::pipe<std::string>(sys);
  auto p = troupe::process::start(head, recv_forever, child);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto blocked = std::async(std::launch::async, [&] { return parent.recv(); });
  EXPECT_EQ(blocked.wait_for(200ms), std::future_status::timeout);
  p->kill();
  ASSERT_EQ(blocked.wait_for(10s), std::future_status::ready) << "recv still blocked after kill";
  EXPECT_THROW(blocked.get(), troupe::peer_lost_error);
  auto code = p->join(10s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, -SIGKILL);
}

TEST_F(Pipe, AChildCannotCloseTheHeadsSide) {
  auto [parent, child] = troupe::pipe<std::string>(sys);
  auto p = troupe::process::start(head, close_the_heads_side, child);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto said = parent.recv(20s);
  EXPECT_EQ(said.rfind("refused: ", 0), 0u) << said;
  parent.send("Hello");  // still open
  EXPECT_EQ(parent.recv(20s), "then got Hello");
  ASSERT_TRUE(p->join(20s));
}

TEST_F(Pipe, AValueOverTheFrameLimitIsRefusedAtSendOnBothEnds) {
  auto [parent, child] = troupe::pipe<std::string>(sys, 1);
  auto p = troupe::process::start(head, send_too_large, child);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto said = parent.recv(20s);
  EXPECT_EQ(said.rfind("refused: ", 0), 0u) << said;
  EXPECT_NE(said.find("message_too_large"), std::string::npos) << said;
  EXPECT_TRUE(troupe::test::names_a_size_just_over(said, over_the_limit)) << said;
  EXPECT_NE(said.find("16777216"), std::string::npos) << said;
  try {
    parent.send(std::string(over_the_limit, 'y'), 20s);
    ADD_FAILURE() << "a value over the frame limit was sent";
  } catch (const troupe::channel_error& err) {
    EXPECT_TRUE(troupe::is(err.error(), troupe::errc::message_too_large)) << err.what();
  }
  parent.send("four", 20s);  // the pipe is usable: the child gets this, not the refused one
  EXPECT_EQ(parent.recv(20s), "got 4");
  auto code = p->join(20s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, 0);
}

}  // namespace
