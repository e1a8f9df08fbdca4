// Remote actors across real processes: spawn by name, request/response, monitor, and what
// happens when a node is lost, stopped, killed or speaks another protocol version.
#include <signal.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "raw_peer.hpp"
#include "subprocess.hpp"
#include "test_program.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/wire/frame.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace {

using namespace std::chrono_literals;
using troupe::errc;
using troupe::test::Big;
using troupe::test::Ping;
using troupe::test::Pong;

troupe::node_options head_options() {
  troupe::node_options opts;
  opts.name = "head";
  opts.log_level = "warn";
  opts.heartbeat_interval = 200ms;
  opts.heartbeat_timeout = 1000ms;
  return opts;
}

struct NodeTest : testing::Test {
  NodeTest() {
    troupe::test::head_config(cfg);
  }
  troupe::config cfg;
  caf::actor_system sys{cfg};
  troupe::node head{sys, head_options()};

  troupe::peer worker() {
    auto w = head.start_worker();
    if (!w)
      throw std::runtime_error(troupe::describe(w.error()));
    return *w;
  }

  caf::actor spawn(const troupe::peer& where, const std::string& type) {
    auto a = head.spawn_on(where, type);
    if (!a)
      throw std::runtime_error(troupe::describe(a.error()));
    return *a;
  }
};

Ping ping(int64_t value, std::string text = {}) {
  Ping p;
  p.set_value(value);
  p.set_text(std::move(text));
  return p;
}

TEST_F(NodeTest, RemoteRequestGetsItsResponse) {
  auto w = worker();
  EXPECT_TRUE(w.child);
  auto echo = spawn(w, "echo");
  caf::scoped_actor self{sys};
  int64_t got = 0;
  self->request(echo, 10s, ping(21))
      .receive([&](const Pong& pong) { got = pong.value(); },
               [&](caf::error& err) { FAIL() << troupe::describe(err); });
  EXPECT_EQ(got, 42);
}

TEST_F(NodeTest, ManyRequestsFromManyActorsAllGetAnswers) {
  auto echo = spawn(worker(), "echo");
  caf::scoped_actor self{sys};
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i)
    self->send(echo, ping(i));  // one-way sends first: their replies come back as messages
  int replies = 0;
  int64_t sum = 0;
  for (int i = 0; i < n; ++i)
    self->receive(
        [&](const Pong& pong) {
          ++replies;
          sum += pong.value();
        },
        caf::after(10s) >> [&] { FAIL() << "no reply after " << replies; });
  EXPECT_EQ(replies, n);
  EXPECT_EQ(sum, int64_t{n} * (n - 1));
}

TEST_F(NodeTest, MessagesArriveInOrderWhetherTrafficIsLightOrHeavy) {
  // Light traffic leaves the sender's thread; heavy traffic goes in batches through the I/O
  // thread. Switching between the two must never reorder a sender's messages.
  auto seq = spawn(worker(), "sequencer");
  caf::scoped_actor self{sys};
  constexpr int64_t n = 20'000;
  for (int64_t i = 0; i < n; ++i) {
    self->send(seq, ping(i));
    if (i % 500 == 0)
      std::this_thread::sleep_for(std::chrono::microseconds{200});
  }
  int64_t received = 0;
  self->request(seq, 30s, ping(0, "report"))
      .receive([&](const Pong& p) { received = p.value(); }, [](caf::error&) {});
  EXPECT_EQ(received, n) << "-1 means out of order";
}

TEST_F(NodeTest, SpawningAnUnknownTypeIsAClearError) {
  auto result = head.spawn_on(worker(), "no_such_actor");
  ASSERT_FALSE(result);
  EXPECT_TRUE(troupe::is(result.error(), errc::unknown_actor_type))
      << troupe::describe(result.error());
  EXPECT_NE(troupe::describe(result.error()).find("no_such_actor"), std::string::npos);
}

TEST_F(NodeTest, MonitorSeesTheRemoteActorExit) {
  auto echo = spawn(worker(), "echo");
  caf::scoped_actor self{sys};
  self->monitor(echo);
  self->request(echo, 10s, ping(0, "quit")).receive([](const Pong&) {}, [](caf::error&) {});
  bool down = false;
  self->receive([&](caf::down_msg& msg) { down = msg.source == echo.address(); },
                caf::after(10s) >> [] {});
  EXPECT_TRUE(down);
}

TEST_F(NodeTest, AnActorThatFinishesAtOnceIsSeenToFinish) {
  // Its ActorDown must not overtake the SpawnResponse that tells the head it exists.
  auto w = worker();
  for (int round = 0; round < 20; ++round) {
    auto quick = spawn(w, "instant");
    auto reason = troupe::join_for(sys, quick, 10s);
    ASSERT_TRUE(reason.has_value()) << "round " << round << ": the finished actor never went down";
  }
}

TEST_F(NodeTest, PendingRequestFailsAtOnceWhenItsNodeIsKilled) {
  auto w = worker();
  auto hole = spawn(w, "blackhole");
  caf::scoped_actor self{sys};
  self->monitor(hole);
  std::thread killer{[pid = w.process_id] {
    std::this_thread::sleep_for(200ms);
    kill(static_cast<pid_t>(pid), SIGKILL);
  }};
  caf::error err;
  // The request's own timeout is far away: the error must come from the lost node.
  self->request(hole, 60s, ping(1)).receive([](const Pong&) {}, [&](caf::error& e) { err = e; });
  killer.join();
  EXPECT_TRUE(troupe::is(err, errc::node_down)) << troupe::describe(err);
  bool down = false;
  self->receive([&](caf::down_msg& msg) { down = msg.source == hole.address(); },
                caf::after(10s) >> [] {});
  EXPECT_TRUE(down);
  EXPECT_TRUE(troupe::test::wait_gone(static_cast<pid_t>(w.process_id), 10s));
}

TEST_F(NodeTest, StoppedWorkerIsDeclaredDownAndFencedOff) {
  auto w = worker();
  auto pid = static_cast<pid_t>(w.process_id);
  kill(pid, SIGSTOP);
  auto reason = head.await_down(w, 20s);
  kill(pid, SIGCONT);
  ASSERT_TRUE(reason.has_value()) << "the stopped worker was never declared down";
  EXPECT_NE(troupe::describe(*reason).find("heartbeat"), std::string::npos)
      << troupe::describe(*reason);
  // Fenced: the head kills a worker it declared down, so it cannot come back with old results.
  EXPECT_TRUE(troupe::test::wait_gone(pid, 10s));
}

TEST_F(NodeTest, OversizedMessageIsRefusedToItsSender) {
  troupe::node small{sys, [] {
                       auto opts = head_options();
                       opts.max_frame_size = 64 * 1024;
                       return opts;
                     }()};
  auto w = small.start_worker();
  ASSERT_TRUE(w) << troupe::describe(w.error());
  auto echo = small.spawn_on(*w, "echo");
  ASSERT_TRUE(echo);
  Big big;
  big.set_blob(std::string(100 * 1024, 'x'));
  caf::scoped_actor self{sys};
  caf::error err;
  self->request(*echo, 10s, big).receive([](const Pong&) {}, [&](caf::error& e) { err = e; });
  EXPECT_TRUE(troupe::is(err, errc::message_too_large)) << troupe::describe(err);
  // The connection is still fine.
  int64_t got = 0;
  self->request(*echo, 10s, ping(2))
      .receive([&](const Pong& p) { got = p.value(); },
               [&](caf::error& e) { FAIL() << troupe::describe(e); });
  EXPECT_EQ(got, 4);
}

TEST_F(NodeTest, NonProtobufMessageToARemoteActorIsAClearError) {
  auto echo = spawn(worker(), "echo");
  caf::scoped_actor self{sys};
  caf::error err;
  self->request(echo, 10s, std::string{"not protobuf"})
      .receive([](const Pong&) {}, [&](caf::error& e) { err = e; });
  EXPECT_TRUE(troupe::is(err, errc::not_serializable)) << troupe::describe(err);
}

TEST_F(NodeTest, StopWorkerEndsTheProcessCleanly) {
  auto w = worker();
  auto status = head.stop_worker(w);
  ASSERT_TRUE(status) << troupe::describe(status.error());
  EXPECT_EQ(*status, 0);
}

TEST_F(NodeTest, ListeningEverywhereWithoutASecretIsRefused) {
  auto port = head.listen("0.0.0.0", 0);
  ASSERT_FALSE(port);
  EXPECT_TRUE(troupe::is(port.error(), errc::auth_failed));
  EXPECT_NE(troupe::describe(port.error()).find("refusing"), std::string::npos);
}

TEST_F(NodeTest, TcpWorkerJoinsAndServesRequests) {
  auto port = head.listen("127.0.0.1", 0);
  ASSERT_TRUE(port) << troupe::describe(port.error());
  // The in-process head has no secret: the worker must not bring its cookie.
  auto proc = troupe::test::start({troupe::test::self_path(), "--join",
                                   "127.0.0.1:" + std::to_string(*port), "--log-level", "warn",
                                   "--insecure-loopback"});
  std::optional<troupe::peer> joined;
  for (int i = 0; i < 500 && !joined; ++i) {
    for (auto& p : head.peers())
      if (!p.child)
        joined = p;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(joined) << proc.output;
  EXPECT_EQ(static_cast<pid_t>(joined->process_id), proc.pid);
  auto echo = head.spawn_on(*joined, "echo");
  ASSERT_TRUE(echo) << troupe::describe(echo.error());
  caf::scoped_actor self{sys};
  int64_t got = 0;
  self->request(*echo, 10s, ping(5))
      .receive([&](const Pong& p) { got = p.value(); },
               [&](caf::error& e) { FAIL() << troupe::describe(e); });
  EXPECT_EQ(got, 10);
}

TEST(NodeProcess, JoiningAnUnreachableHeadExitsWithAClearError) {
  // Port 1 on loopback: nobody listens there.
  auto proc = troupe::test::start(
      {troupe::test::self_path(), "--join", "127.0.0.1:1", "--join-timeout", "1"});
  auto status = proc.wait(30s);
  ASSERT_TRUE(status.has_value()) << "the worker did not give up";
  EXPECT_NE(*status, 0);
  EXPECT_NE(proc.output.find("could not join 127.0.0.1:1"), std::string::npos) << proc.output;
}

TEST(NodeProcess, BadFlagsPrintUsageAndExitWithStatusTwo) {
  auto proc = troupe::test::start({troupe::test::self_path(), "head-for-test", "--no-such-flag"});
  auto status = proc.wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 2);
  EXPECT_NE(proc.output.find("--workers"), std::string::npos) << proc.output;
}

TEST(NodeProcess, KilledHeadTakesItsWorkersDown) {
  auto head = troupe::test::start(
      {troupe::test::self_path(), "head-for-test", "--workers", "2", "--log-level", "warn"});
  ASSERT_TRUE(head.read_until("ready", 30s)) << head.output;
  std::vector<pid_t> workers;
  size_t at = 0;
  while ((at = head.output.find("worker ", at)) != std::string::npos) {
    workers.push_back(static_cast<pid_t>(std::stol(head.output.substr(at + 7))));
    at += 7;
  }
  ASSERT_EQ(workers.size(), 2u) << head.output;
  head.kill_now();
  for (auto pid : workers)
    EXPECT_TRUE(troupe::test::wait_gone(pid, 10s)) << "worker " << pid << " outlived its head";
}

// A peer that speaks protocol version 99 is told why it is refused.
TEST_F(NodeTest, VersionMismatchIsRefusedWithAReason) {
  auto port = head.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  troupe::test::raw_peer peer{*port};
  ASSERT_TRUE(peer.connected());
  troupe::wire::Hello hello;
  hello.set_magic("troupe");
  hello.set_protocol_version(99);
  hello.set_node_name("from-the-future");
  hello.set_nonce(std::string(32, 'n'));
  std::vector<char> out;
  troupe::wire::append_frame(out, troupe::wire::kind::hello, hello);
  ASSERT_TRUE(peer.send_bytes(out));
  auto bye = peer.read_goodbye(10s);
  ASSERT_TRUE(bye) << "no Goodbye received";
  EXPECT_EQ(bye->code(), static_cast<uint32_t>(errc::version_mismatch));
  EXPECT_NE(bye->reason().find("version 99"), std::string::npos) << bye->reason();
}

}  // namespace
