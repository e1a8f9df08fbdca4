// Faults with real processes: workers SIGKILLed every ~100 ms and SIGSTOPped during a map,
// a TCP worker stopped and continued, a slow consumer in another process, a head that restarts
// under a joined worker. Nothing is lost, nothing is duplicated, nothing hangs. The tests print
// what they survived (kills, re-dispatches, respawns, detection time) for the record.
#include <signal.h>

#include <future>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "head_fixture.hpp"
#include "subprocess.hpp"
#include "troupe/actors/flow.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace {

using namespace std::chrono_literals;
using troupe::test::Ping;
using troupe::test::Pong;

struct Chaos : troupe::test::head_fixture {
  Chaos() : head_fixture(1000ms) {}
};

std::vector<int64_t> work(size_t n, int64_t us) {
  return std::vector<int64_t>(n, us);
}

TEST_F(Chaos, MapSurvivesAWorkerKilledEvery100Milliseconds) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2));
  // 10,000 tasks of 200 us, one per dispatch: about a second of work per worker.
  std::vector<int64_t> xs(10'000);
  for (size_t i = 0; i < xs.size(); ++i)
    xs[i] = 200 + static_cast<int64_t>(i % 7);  // distinct values: a misplaced result shows
  auto mapping =
      std::async(std::launch::async, [&] { return pool.map<int64_t>("spin_us", xs, 1); });
  std::mt19937 rng{7};
  size_t kills = 0;
  auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until
         && mapping.wait_for(100ms) != std::future_status::ready) {
    auto pids = worker_pids();
    if (pids.empty())
      continue;
    if (kill(pids[rng() % pids.size()], SIGKILL) == 0)
      ++kills;
  }
  ASSERT_EQ(mapping.wait_for(120s), std::future_status::ready) << "the map hung";
  auto results = mapping.get();
  EXPECT_EQ(results, xs);  // every element once, in order
  auto stats = pool.stats();
  std::cout << "chaos: " << kills << " SIGKILLs, " << stats.worker_deaths << " worker deaths, "
            << stats.redispatched << " tasks re-dispatched, " << stats.respawned
            << " workers respawned, " << stats.late_results_discarded << " late results\n";
  EXPECT_GE(kills, 5u);
  EXPECT_GE(stats.worker_deaths, 5u);
  EXPECT_GE(stats.respawned, stats.worker_deaths);
  EXPECT_GE(stats.redispatched, 1u);
}

TEST_F(Chaos, MapSurvivesAStoppedWorkerThatIsDeclaredDownAndFenced) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2));
  auto xs = work(3000, 1000);  // about 1.5 s per worker
  auto mapping =
      std::async(std::launch::async, [&] { return pool.map<int64_t>("spin_us", xs, 1); });
  std::this_thread::sleep_for(300ms);
  auto victim = worker_pids().front();
  auto stopped_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(victim, SIGSTOP), 0);
  while (pool.stats().worker_deaths == 0 && std::chrono::steady_clock::now() - stopped_at < 20s)
    std::this_thread::sleep_for(10ms);
  auto detected = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - stopped_at);
  kill(victim, SIGCONT);  // too late: it was fenced off
  ASSERT_EQ(pool.stats().worker_deaths, 1u) << "the stopped worker was never declared down";
  std::cout << "chaos: a SIGSTOPped worker was declared down after " << detected.count()
            << " ms (heartbeat timeout 1000 ms)\n";
  EXPECT_TRUE(troupe::test::wait_gone(victim, 10s)) << "the stopped worker came back";
  ASSERT_EQ(mapping.wait_for(120s), std::future_status::ready);
  EXPECT_EQ(mapping.get(), xs);
  EXPECT_EQ(pool.stats().late_results_discarded, 0u);
}

TEST_F(Chaos, AStoppedTcpWorkerIsDroppedAndRejoinsCleanlyWhenContinued) {
  auto port = head.listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  auto worker = troupe::test::start({troupe::test::self_path(), "--join",
                                     "127.0.0.1:" + std::to_string(*port), "--log-level", "error",
                                     "--heartbeat-interval-ms", "200", "--heartbeat-timeout-ms",
                                     "1000", "--join-timeout", "30", "--insecure-loopback"});
  troupe::process_pool pool{head, {.workers = 0}};
  ASSERT_TRUE(pool.wait_for_workers(1));
  auto before = head.peers().front();
  ASSERT_EQ(kill(worker.pid, SIGSTOP), 0);
  auto down = head.await_down(before, 20s);
  ASSERT_TRUE(down.has_value()) << "the stopped TCP worker was never declared down";
  ASSERT_EQ(kill(worker.pid, SIGCONT), 0);
  // Continued, it finds its old connection closed and joins again as a new peer.
  std::optional<troupe::peer> again;
  for (int i = 0; i < 1000 && !again; ++i) {
    for (auto& p : head.peers())
      if (p.id != before.id)
        again = p;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(again) << "the continued worker did not rejoin";
  EXPECT_EQ(static_cast<pid_t>(again->process_id), worker.pid);
  // The pool uses it again, and its old connection's results can no longer arrive.
  EXPECT_EQ(pool.map<int64_t>("square", std::vector<int64_t>{1, 2, 3}),
            (std::vector<int64_t>{1, 4, 9}));
  EXPECT_EQ(pool.stats().late_results_discarded, 0u);
}

TEST_F(Chaos, ASlowConsumerInAnotherProcessBoundsTheProducer) {
  auto w = head.start_worker();
  ASSERT_TRUE(w);
  constexpr int64_t window = 4;
  Pong window_arg;
  window_arg.set_value(window);
  auto consumer = head.spawn_on(*w, "gated_consumer", caf::make_message(window_arg));
  ASSERT_TRUE(consumer) << troupe::describe(consumer.error());
  std::atomic<int64_t> produced{0};
  std::atomic<int64_t> released{0};
  std::atomic<int64_t> worst_lead{0};
  constexpr int64_t total = 200;
  auto producer = troupe::flow::spawn_producer<Ping>(sys, [&]() -> std::optional<Ping> {
    if (produced == total)
      return std::nullopt;
    auto lead = ++produced - released;
    worst_lead = std::max(worst_lead.load(), lead);
    Ping p;
    p.set_value(produced);
    return p;
  });
  // A failed check must not leave the producer waiting for consumers forever.
  std::shared_ptr<void> stop_producer{
      nullptr, [&](void*) { caf::anon_send_exit(producer, caf::exit_reason::kill); }};
  troupe::flow::subscribe(producer, *consumer);
  // Without releases the producer stops at the window, across the process boundary.
  for (int i = 0; i < 500 && produced < window; ++i)
    std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(produced.load(), window);
  caf::scoped_actor self{sys};
  auto release = [&](int64_t n) {
    released += n;  // counted before the consumer can acknowledge
    Pong p;
    p.set_value(n);
    self->request(*consumer, 10s, p).receive([](const Pong&) {}, [](caf::error&) {});
  };
  for (int round = 0; round < 49; ++round)
    release(4);
  for (int i = 0; i < 500 && produced < total; ++i)
    std::this_thread::sleep_for(10ms);
  release(window);
  EXPECT_EQ(produced.load(), total);
  EXPECT_LE(worst_lead.load(), window) << "the producer ran ahead of the consumer's credit";
  EXPECT_TRUE(troupe::join_for(sys, *consumer, 10s).has_value()) << "no end of stream";
}

TEST(ChaosProcess, AJoinedWorkerFollowsARestartedHeadOrGivesUpAfterItsDeadline) {
  // Find a free port for both incarnations of the head.
  uint16_t port = 0;
  {
    auto probe = troupe::test::start({troupe::test::self_path(), "head-for-test", "--workers", "0",
                                      "--listen", "127.0.0.1:0", "--log-level", "error"});
    ASSERT_TRUE(probe.read_until("ready", 30s)) << probe.output;
    auto at = probe.output.find("listening ");
    ASSERT_NE(at, std::string::npos);
    port = static_cast<uint16_t>(std::stoi(probe.output.substr(at + 10)));
  }
  auto endpoint = "127.0.0.1:" + std::to_string(port);
  auto head_args = std::vector<std::string>{troupe::test::self_path(),
                                            "head-for-test",
                                            "--workers",
                                            "0",
                                            "--listen",
                                            endpoint,
                                            "--log-level",
                                            "error"};
  auto first = troupe::test::start(head_args);
  ASSERT_TRUE(first.read_until("ready", 30s)) << first.output;
  auto worker = troupe::test::start({troupe::test::self_path(), "--join", endpoint,
                                     "--join-timeout", "5", "--log-level", "error"});
  auto joined = "joined " + std::to_string(worker.pid);
  ASSERT_TRUE(first.read_until(joined, 30s)) << first.output;
  first.kill_now();
  auto second = troupe::test::start(head_args);
  ASSERT_TRUE(second.read_until(joined, 30s)) << "the worker did not come back: " << second.output;
  second.kill_now();
  auto status = worker.wait(60s);
  ASSERT_TRUE(status.has_value()) << "the worker hangs without its head";
  EXPECT_NE(*status, 0);
  EXPECT_NE(worker.output.find("could not join " + endpoint), std::string::npos) << worker.output;
}

}  // namespace
