// A listening node under hostile input: garbage, half handshakes, floods of connections, huge
// frames, unknown payload types and corrupt payloads. Each is refused (and logged, at most once
// per interval), and the node keeps serving its honest peer all along. And a head out of file
// descriptors: it pauses accepting instead of spinning, and serves again once they are free.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "log_capture.hpp"
#include "raw_peer.hpp"
#include "subprocess.hpp"
#include "test_program.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace {

using namespace std::chrono_literals;
using troupe::errc;
using troupe::test::raw_peer;

struct Hostile : testing::Test {
  troupe::test::log_capture logs;
  troupe::config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<troupe::node> head;
  uint16_t port = 0;
  std::optional<troupe::test::subprocess> worker;
  std::optional<troupe::peer> honest;
  caf::actor echo;

  void SetUp() override {
    troupe::test::head_config(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    troupe::node_options opts;
    opts.name = "head";
    opts.handshake_timeout = 1000ms;
    head = std::make_unique<troupe::node>(*sys, opts);
    auto bound = head->listen("127.0.0.1", 0);
    ASSERT_TRUE(bound) << troupe::describe(bound.error());
    port = *bound;
    // An unauthenticated head (hostile peers need none): the worker leaves its cookie out.
    worker.emplace(troupe::test::start({troupe::test::self_path(), "--join",
                                        "127.0.0.1:" + std::to_string(port), "--log-level", "warn",
                                        "--insecure-loopback"}));
    for (int i = 0; i < 1000 && !honest; ++i) {
      for (auto& p : head->peers())
        honest = p;
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(honest);
    auto spawned = head->spawn_on(*honest, "echo");
    ASSERT_TRUE(spawned) << troupe::describe(spawned.error());
    echo = *spawned;
  }

  void TearDown() override {
    echo = nullptr;
    head.reset();
    sys.reset();
  }

  void expect_still_serving() {
    caf::scoped_actor self{*sys};
    troupe::test::Ping ping;
    ping.set_value(21);
    int64_t got = 0;
    self->request(echo, 10s, ping)
        .receive([&](const troupe::test::Pong& p) { got = p.value(); }, [](caf::error&) {});
    EXPECT_EQ(got, 42) << "the honest peer is no longer served";
    bool still_there = false;
    for (auto& p : head->peers())
      still_there = still_there || p.id == honest->id;
    EXPECT_TRUE(still_there);
  }
};

std::optional<troupe::wire::Envelope> read_envelope(raw_peer& peer) {
  for (;;) {
    auto frame = peer.read_frame(10s);
    if (!frame)
      return std::nullopt;
    if (frame->first != troupe::wire::kind::envelope)
      continue;  // heartbeats
    troupe::wire::Envelope env;
    if (!env.ParseFromString(frame->second))
      return std::nullopt;
    return env;
  }
}

TEST_F(Hostile, GarbageBytesAreDroppedAndTheNodeKeepsServing) {
  std::mt19937 rng{42};
  std::string garbage(4096, '\0');
  for (auto& c : garbage)
    c = static_cast<char>(rng());
  raw_peer peer{port};
  ASSERT_TRUE(peer.connected());
  peer.send_bytes(garbage);
  EXPECT_TRUE(peer.closed_within(10s));
  EXPECT_TRUE(logs.wait_for("rejected")) << logs.text();
  expect_still_serving();
}

TEST_F(Hostile, HalfAHandshakeThenSilenceIsDroppedAtTheDeadline) {
  // A frame header and the start of a Hello, then nothing.
  raw_peer half{port};
  half.send_bytes(std::string("\x00\x00\x00\x40\x01troupe", 11));
  EXPECT_TRUE(half.closed_within(10s));
  EXPECT_TRUE(logs.wait_for("did not complete the handshake in time")) << logs.text();
  expect_still_serving();
}

TEST_F(Hostile, AFloodOfConnectionsIsShedAndLoggedSparingly) {
  std::vector<std::unique_ptr<raw_peer>> flood;
  for (int i = 0; i < 200; ++i)
    flood.push_back(std::make_unique<raw_peer>(port));
  expect_still_serving();  // while 200 silent connections hang around
  auto start = std::chrono::steady_clock::now();
  size_t closed = 0;
  for (auto& peer : flood)
    closed += peer->closed_within(10s) ? 1 : 0;
  EXPECT_EQ(closed, flood.size());
  std::cout << "200 silent connections shed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count()
            << " ms\n";
  // Rate-limited: nowhere near one line per connection.
  EXPECT_LE(logs.count("rejected handshake"), 5u) << logs.text();
  expect_still_serving();
}

TEST_F(Hostile, AFrameAnnouncingAHugeSizeIsRefusedBeforeItsBody) {
  raw_peer before{port};
  before.send_bytes(std::string("\x7f\xff\xff\xff\x01", 5));
  EXPECT_TRUE(before.closed_within(10s));
  raw_peer after{port};
  ASSERT_TRUE(after.handshake());
  after.send_bytes(std::string("\x7f\xff\xff\xff\x05", 5));
  EXPECT_TRUE(after.closed_within(10s));
  EXPECT_TRUE(logs.wait_for("rejected oversized frame")) << logs.text();
  expect_still_serving();
}

TEST_F(Hostile, AnUnknownPayloadTypeIsRefusedWithAnErrorToItsSender) {
  raw_peer peer{port};
  ASSERT_TRUE(peer.handshake());
  troupe::wire::envelope_header h;
  h.target = 1;
  h.sender = 77;
  h.request_id = 5;
  h.type_id = 1;
  h.type_name = "evil.Unknown";
  std::vector<char> out;
  troupe::wire::append_envelope(out, h, std::string_view{"\x08\x01", 2});
  peer.send_bytes(out);
  auto reply = read_envelope(peer);
  ASSERT_TRUE(reply) << "no error response";
  EXPECT_TRUE(reply->is_response());
  EXPECT_EQ(reply->target(), 77u);
  EXPECT_EQ(reply->request_id(), 5u);
  troupe::wire::Error err;
  ASSERT_TRUE(err.ParseFromString(reply->payload()));
  EXPECT_EQ(err.code(), static_cast<uint32_t>(errc::unknown_message_type));
  EXPECT_NE(err.message().find("evil.Unknown"), std::string::npos);
  EXPECT_TRUE(logs.wait_for("rejected unknown_message_type")) << logs.text();
  expect_still_serving();
}

TEST_F(Hostile, AValidLookingMessageWithACorruptPayloadIsRefused) {
  raw_peer peer{port};
  ASSERT_TRUE(peer.handshake());
  troupe::wire::envelope_header h;
  h.target = 1;
  h.sender = 78;
  h.request_id = 6;
  h.type_id = 1;
  h.type_name = "troupe.test.Ping";
  std::vector<char> out;
  troupe::wire::append_envelope(out, h, std::string_view{"\x12\x64\x01", 3});
  peer.send_bytes(out);
  auto reply = read_envelope(peer);
  ASSERT_TRUE(reply) << "no error response";
  troupe::wire::Error err;
  ASSERT_TRUE(err.ParseFromString(reply->payload()));
  EXPECT_EQ(err.code(), static_cast<uint32_t>(errc::corrupt_payload));
  EXPECT_TRUE(logs.wait_for("rejected corrupt_payload")) << logs.text();
  expect_still_serving();
}

TEST_F(Hostile, AnUnknownFrameKindEndsTheConnection) {
  raw_peer peer{port};
  ASSERT_TRUE(peer.handshake());
  peer.send_bytes(std::string("\x00\x00\x00\x01\x63", 5));
  EXPECT_TRUE(peer.closed_within(10s));
  EXPECT_TRUE(logs.wait_for("rejected malformed frame")) << logs.text();
  expect_still_serving();
}

// -- issue 10 item 15: the descriptor limit -------------------------------------------------------

size_t open_descriptors(pid_t pid) {
  size_t n = 0;
  if (DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (auto* entry = readdir(dir))
      n += entry->d_name[0] != '.' ? 1 : 0;
    closedir(dir);
  }
  return n;
}

// User plus system CPU time the process has used (/proc/PID/stat, fields 14 and 15).
std::chrono::milliseconds cpu_time(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields{stat.substr(stat.rfind(')') + 2)};
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14)
      utime = std::stoull(field);
    if (i == 15)
      stime = std::stoull(field);
  }
  return std::chrono::milliseconds{(utime + stime) * 1000 / sysconf(_SC_CLK_TCK)};
}

TEST(HostileLimits, AtTheDescriptorLimitTheHeadPausesAcceptingAndServesAgainLater) {
#if defined(__SANITIZE_ADDRESS__)
  // At the descriptor limit the sanitizers' own runtime fails too (UBSan's vptr check then
  // reports objects it cannot inspect): this runs in the unsanitized suite.
  GTEST_SKIP() << "not meaningful under the sanitizers, whose runtime needs descriptors too";
#endif
  auto head = troupe::test::start({troupe::test::self_path(), "head-for-test", "--workers", "0",
                                   "--listen", "127.0.0.1:0", "--log-level", "warn"});
  ASSERT_TRUE(head.read_until("ready", 20s)) << head.output;
  auto at = head.output.find("listening ");
  ASSERT_NE(at, std::string::npos) << head.output;
  auto port = static_cast<uint16_t>(std::stoi(head.output.substr(at + 10)));
  // A few descriptors to spare, then more connections than that: the rest wait in the backlog,
  // where the listening socket stays readable while accept fails with EMFILE.
  rlimit limit{};
  ASSERT_EQ(prlimit(head.pid, RLIMIT_NOFILE, nullptr, &limit), 0);
  limit.rlim_cur = open_descriptors(head.pid) + 4;
  ASSERT_EQ(prlimit(head.pid, RLIMIT_NOFILE, &limit, nullptr), 0);
  std::vector<std::unique_ptr<raw_peer>> flood;
  for (int i = 0; i < 20; ++i)
    flood.push_back(std::make_unique<raw_peer>(port));
  std::this_thread::sleep_for(500ms);
  // No busy loop: a correctness bound, far above what waiting costs and far below a spin.
  auto cpu_before = cpu_time(head.pid);
  auto wall_before = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(2s);
  auto cpu = cpu_time(head.pid) - cpu_before;
  auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                                    - wall_before);
  EXPECT_LT(cpu.count() * 5, wall.count())
      << "the head used " << cpu.count() << " ms of CPU in " << wall.count() << " ms";
  // Logged, sparingly: once per interval, not once per failed accept.
  EXPECT_TRUE(head.read_until("Too many open files", 5s)) << head.output;
  size_t reports = 0;
  for (auto i = head.output.find("Too many open files"); i != std::string::npos;
       i = head.output.find("Too many open files", i + 1))
    ++reports;
  EXPECT_LE(reports, 2u) << head.output;
  // Descriptors free again: the head accepts and speaks first (its Hello).
  flood.clear();
  std::optional<std::pair<troupe::wire::kind, std::string>> hello;
  for (int i = 0; i < 10 && !hello; ++i) {
    raw_peer late{port};
    hello = late.read_frame(2s);
  }
  ASSERT_TRUE(hello) << "the head no longer accepts";
  EXPECT_EQ(hello->first, troupe::wire::kind::hello);
  head.kill_now();
}

}  // namespace
