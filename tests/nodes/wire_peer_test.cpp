// A node against the Python peer (tests/nodes/wire_peer.py), which is written from
// docs/protocol.md alone: first as an honest worker (with and without the cluster secret), then
// as hostile peers that try to reach beyond their own link: answering another link's request,
// holding unfinished frames, trickling a frame, spawning without end, sending frames that do not
// parse. Each is refused and the node keeps its bounds.
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include <google/protobuf/wrappers.pb.h>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "log_capture.hpp"
#include "subprocess.hpp"
#include "test_program.hpp"
#include "troupe/messages/pool.pb.h"
#include "troupe/tests/messages/test.pb.h"
#include "wire_peer.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::test::subprocess;

struct PythonPeer : testing::Test {
  troupe::test::log_capture logs;
  troupe::config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<troupe::node> head;
  uint16_t port = 0;

  void start_head(troupe::node_options opts = {}) {
    troupe::test::head_config(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    opts.name = "head";
    head = std::make_unique<troupe::node>(*sys, opts);
    auto bound = head->listen("127.0.0.1", 0);
    ASSERT_TRUE(bound) << troupe::describe(bound.error());
    port = *bound;
  }

  void TearDown() override {
    head.reset();
    sys.reset();
  }

  subprocess peer(const std::vector<std::string>& args) {
    return troupe::test::start_wire_peer(port, args);
  }

  // The peers the head has now, waiting (bounded) until there are `n`.
  std::vector<troupe::peer> wait_for_peers(size_t n) {
    std::vector<troupe::peer> peers;
    for (int i = 0; i < 1000; ++i) {
      peers = head->peers();
      if (peers.size() == n)
        break;
      std::this_thread::sleep_for(10ms);
    }
    return peers;
  }

  // Pong's value for Ping{value} sent to `echo`, or -1 on an error or timeout.
  int64_t ping(const caf::actor& echo, int64_t value) {
    caf::scoped_actor self{*sys};
    troupe::test::Ping ping;
    ping.set_value(value);
    int64_t got = -1;
    self->request(echo, 10s, ping)
        .receive([&](const troupe::test::Pong& p) { got = p.value(); }, [](caf::error&) {});
    return got;
  }

  caf::actor spawn_echo(const troupe::peer& where) {
    auto spawned = head->spawn_on(where, "echo");
    EXPECT_TRUE(spawned) << troupe::describe(spawned.error());
    return spawned ? *spawned : caf::actor{};
  }
};

std::string write_secret(const std::string& secret) {
  auto path = "/tmp/troupe-test-" + std::to_string(getpid()) + "-python-secret";
  std::ofstream{path} << secret << "\n";
  return path;
}

// -- an honest peer: the protocol document suffices -----------------------------------------------

TEST_F(PythonPeer, AnHonestPeerJoinsAndServesSpawnedActors) {
  start_head();
  auto worker = peer({"--role", "worker"});
  ASSERT_TRUE(worker.read_until("connected", 10s)) << worker.output;
  auto peers = wait_for_peers(1);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].name, "python-peer");
  auto echo = spawn_echo(peers[0]);
  EXPECT_EQ(ping(echo, 21), 42);
  // The task runner of the process pool: a TaskBatch of squares.
  auto runner = head->spawn_on(peers[0], "troupe.task_runner");
  ASSERT_TRUE(runner) << troupe::describe(runner.error());
  troupe::pool::Items args;
  for (int64_t x : {3, 4}) {
    google::protobuf::Int64Value v;
    v.set_value(x);
    args.add_item(v.SerializeAsString());
  }
  troupe::pool::TaskBatch batch;
  batch.set_task("square");
  batch.set_batch_id(7);
  batch.set_count(2);
  batch.set_args(args.SerializeAsString());
  caf::scoped_actor self{*sys};
  std::vector<int64_t> squares;
  self->request(*runner, 10s, batch)
      .receive(
          [&](const troupe::pool::ResultBatch& result) {
            EXPECT_EQ(result.batch_id(), 7u);
            troupe::pool::Items items;
            ASSERT_TRUE(items.ParseFromString(result.results()));
            for (auto& item : items.item()) {
              google::protobuf::Int64Value v;
              ASSERT_TRUE(v.ParseFromString(item));
              squares.push_back(v.value());
            }
          },
          [](caf::error& err) { ADD_FAILURE() << troupe::describe(err); });
  EXPECT_EQ(squares, (std::vector<int64_t>{9, 16}));
}

TEST_F(PythonPeer, AnHonestPeerAuthenticatesWithTheClusterSecret) {
  troupe::node_options opts;
  opts.secret = "python knows it";
  start_head(opts);
  auto worker = peer({"--role", "worker", "--secret-file", write_secret("python knows it")});
  ASSERT_TRUE(worker.read_until("connected", 10s)) << worker.output;
  auto peers = wait_for_peers(1);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(ping(spawn_echo(peers[0]), 5), 10);
  // Both sides send Auth at once: the stranger may see the mismatch first and leave, or read
  // the node's Goodbye first. Either way it never gets in.
  auto stranger = peer({"--role", "worker", "--secret-file", write_secret("a guess")});
  EXPECT_TRUE(stranger.read_until("closed", 10s)) << stranger.output;
  EXPECT_EQ(stranger.output.find("connected"), std::string::npos) << stranger.output;
  EXPECT_TRUE(logs.wait_for("wrong cluster secret")) << logs.text();
  EXPECT_EQ(head->peers().size(), 1u);
}

// -- issue 10 item 9: a response counts only on the link its request went out on ------------------

TEST_F(PythonPeer, AResponseForgedOnAnotherLinkIsDroppedAndTheRealOneArrives) {
  start_head();
  auto honest = peer({"--role", "hold-requests", "--name", "honest"});
  ASSERT_TRUE(honest.read_until("connected", 10s)) << honest.output;
  auto peers = wait_for_peers(1);
  ASSERT_EQ(peers.size(), 1u);
  auto echo = spawn_echo(peers[0]);
  caf::scoped_actor self{*sys};
  troupe::test::Ping ping;
  ping.set_value(21);
  auto reply = self->request(echo, 20s, ping);
  // The honest peer holds the request and prints what a forger needs to answer it.
  ASSERT_TRUE(honest.read_until("value=21", 10s)) << honest.output;
  auto line = honest.output.substr(honest.output.find("request target="));
  uint64_t target = 0, sender = 0, request_id = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "request target=%lu sender=%lu request_id=%lu", &target,
                        &sender, &request_id),
            3)
      << line;
  // Another peer answers that request first; its round trip after the forgery shows that the
  // head has processed it.
  auto forger =
      peer({"--role", "forge-response", "--name", "forger", "--target", std::to_string(sender),
            "--request-id", std::to_string(request_id), "--value", "666"});
  ASSERT_TRUE(forger.read_until("forged", 10s)) << forger.output;
  EXPECT_TRUE(logs.wait_for("rejected unsolicited response")) << logs.text();
  // Now the honest peer answers.
  troupe::test::Ping release;
  release.set_text("release");
  self->send(echo, release);
  int64_t got = 0;
  reply.receive([&](const troupe::test::Pong& p) { got = p.value(); },
                [&](caf::error& err) { ADD_FAILURE() << troupe::describe(err); });
  EXPECT_EQ(got, 42) << "the head took the forged response";
}

// -- issue 10 item 11: what established peers can make the node hold ------------------------------

TEST_F(PythonPeer, ConnectionsBeyondMaxConnectionsAreRefusedAtAccept) {
  troupe::node_options opts;
  opts.max_connections = 3;
  start_head(opts);
  std::vector<subprocess> admitted;
  for (int i = 0; i < 3; ++i) {
    admitted.push_back(peer({"--role", "worker"}));
    ASSERT_TRUE(admitted.back().read_until("connected", 10s)) << admitted.back().output;
  }
  ASSERT_EQ(wait_for_peers(3).size(), 3u);
  auto refused = peer({"--role", "worker"});
  EXPECT_TRUE(refused.read_until("goodbye code=24", 10s)) << refused.output;
  EXPECT_EQ(refused.output.find("connected"), std::string::npos) << refused.output;
  EXPECT_TRUE(logs.wait_for("rejected connection")) << logs.text();
  // A slot freed is a slot taken again.
  admitted.front().kill_now();
  ASSERT_EQ(wait_for_peers(2).size(), 2u);
  auto later = peer({"--role", "worker"});
  EXPECT_TRUE(later.read_until("connected", 10s)) << later.output;
  EXPECT_EQ(wait_for_peers(3).size(), 3u);
}

TEST_F(PythonPeer, UnfinishedFramesBeyondTheNodesBudgetCloseALink) {
  troupe::node_options opts;
  opts.partial_frame_budget = 1024 * 1024;
  opts.frame_timeout = 60s;
  opts.heartbeat_timeout = 60s;
  start_head(opts);
  // Two peers each hold 700 kB of a 4 MiB frame: together over the budget, one must go.
  auto holding = [&] {
    return peer({"--role", "partial-frame", "--announce", "4194304", "--send", "700000"});
  };
  auto first = holding();
  ASSERT_TRUE(first.read_until("holding", 10s)) << first.output;
  auto second = holding();
  ASSERT_TRUE(second.read_until("holding", 10s)) << second.output;
  subprocess* closed = nullptr;
  for (int i = 0; i < 100 && !closed; ++i)
    for (auto* p : {&first, &second})
      if (!closed && p->read_until("goodbye code=24", 100ms))
        closed = p;
  ASSERT_TRUE(closed) << first.output << second.output;
  EXPECT_NE(closed->output.find("budget"), std::string::npos) << closed->output;
  EXPECT_TRUE(logs.wait_for("rejected partial frame")) << logs.text();
  auto* kept = closed == &first ? &second : &first;
  EXPECT_FALSE(kept->read_until("goodbye", 500ms)) << kept->output;
  EXPECT_EQ(wait_for_peers(1).size(), 1u);
  // What the closed link held is free again: an honest peer is served.
  auto worker = peer({"--role", "worker", "--name", "honest"});
  ASSERT_TRUE(worker.read_until("connected", 10s)) << worker.output;
  auto peers = wait_for_peers(2);
  for (auto& p : peers) {
    if (p.name == "honest") {
      EXPECT_EQ(ping(spawn_echo(p), 1), 2);
    }
  }
}

TEST_F(PythonPeer, AFrameTrickledPastTheFrameTimeoutClosesTheLink) {
  troupe::node_options opts;
  opts.frame_timeout = 1000ms;
  opts.heartbeat_interval = 200ms;
  start_head(opts);
  // One byte every 200 ms: alive by the heartbeat rule, but the frame never ends.
  auto trickle = peer({"--role", "trickle", "--interval-ms", "200", "--timeout-s", "20"});
  ASSERT_TRUE(trickle.read_until("connected", 10s)) << trickle.output;
  EXPECT_TRUE(trickle.read_until("goodbye code=6", 10s)) << trickle.output;
  EXPECT_NE(trickle.output.find("did not complete a frame within 1000 ms"), std::string::npos)
      << trickle.output;
  EXPECT_TRUE(logs.wait_for("rejected slow frame")) << logs.text();
}

// -- issue 10 item 12: actors spawned for a peer --------------------------------------------------

TEST_F(PythonPeer, SpawnRequestsBeyondTheLinksLimitAreRefused) {
  troupe::node_options opts;
  opts.max_spawned_per_link = 50;
  start_head(opts);
  auto flood = peer({"--role", "spawn-flood", "--count", "60"});
  EXPECT_TRUE(flood.read_until("spawned 50 refused 10 code 24", 20s)) << flood.output;
}

TEST_F(PythonPeer, ActorsSpawnedForAPeerEndWithItsLink) {
  start_head();
  auto baseline = sys->registry().running();
  auto flood = peer({"--role", "spawn-flood", "--count", "40"});
  ASSERT_TRUE(flood.read_until("spawned 40 refused 0", 20s)) << flood.output;
  ASSERT_TRUE(flood.wait(10s));  // it closed its connection and left
  auto running = sys->registry().running();
  for (int i = 0; i < 500 && running > baseline; ++i) {
    std::this_thread::sleep_for(20ms);
    running = sys->registry().running();
  }
  EXPECT_LE(running, baseline) << "actors spawned for the peer outlived its link";
}

// -- issue 10 item 16: a frame that does not parse ends the link ----------------------------------

TEST_F(PythonPeer, ControlFramesThatDoNotParseEndTheLinkWithAProtocolError) {
  start_head();
  // Field 1, length-delimited, 5 bytes announced, 1 present: truncated for every message.
  for (auto kind : {"4", "6", "7", "8"}) {
    auto bad = peer({"--role", "bad-frame", "--kind", kind, "--body-hex", "0a05ab"});
    ASSERT_TRUE(bad.read_until("connected", 10s)) << bad.output;
    EXPECT_TRUE(bad.read_until("goodbye code=6", 10s)) << "kind " << kind << ": " << bad.output;
    EXPECT_TRUE(bad.read_until("closed", 10s)) << "kind " << kind << ": " << bad.output;
  }
  EXPECT_TRUE(logs.wait_for("rejected malformed frame")) << logs.text();
}

TEST_F(PythonPeer, AnEmptyFrameEndsTheLinkAtOnce) {
  start_head();
  // A bare zero length, no kind byte after it, nothing more.
  auto bad = peer({"--role", "bad-frame", "--raw-hex", "00000000"});
  ASSERT_TRUE(bad.read_until("connected", 10s)) << bad.output;
  EXPECT_TRUE(bad.read_until("goodbye code=6", 10s)) << bad.output;
}

}  // namespace
