// The process pool never hangs: late joiners after close, a stuck task next to others, task
// timeouts, cancel, terminate, bounded joins and results, workers that fail at start-up, lie,
// or go silent. Every test ends by itself; none asserts a duration.
#include <signal.h>

#include <atomic>
#include <future>
#include <numeric>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "head_fixture.hpp"
#include "subprocess.hpp"
#include "troupe/messages/items.hpp"
#include "troupe/messages/pool.pb.h"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/pool/task_runner.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;

struct PoolRobustness : troupe::test::head_fixture {
  PoolRobustness() : head_fixture(1500ms) {}

  std::string listen() {
    auto port = head.listen("127.0.0.1", 0);
    EXPECT_TRUE(port);
    return "127.0.0.1:" + std::to_string(port ? *port : 0);
  }

  troupe::test::subprocess join_worker(const std::string& endpoint) {
    return troupe::test::start({troupe::test::self_path(), "--join", endpoint, "--log-level",
                                "error", "--heartbeat-interval-ms", "200", "--heartbeat-timeout-ms",
                                "1500", "--join-timeout", "5", "--insecure-loopback"});
  }
};

errc code_of(const troupe::task_error& e) {
  return static_cast<errc>(e.error().code());
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> xs(static_cast<size_t>(n));
  std::iota(xs.begin(), xs.end(), 0);
  return xs;
}

// -- item 1: a worker that joins after close() still serves what is queued ------------------------

TEST_F(PoolRobustness, AWorkerJoiningAfterCloseServesTheQueuedWork) {
  auto endpoint = listen();
  troupe::process_pool pool{head, {.workers = 0}};
  auto f = pool.apply_async<int64_t>("square", int64_t{7});
  auto mapped =
      std::async(std::launch::async, [&] { return pool.map<int64_t>("square", iota(50)); });
  std::this_thread::sleep_for(100ms);  // the map's chunks are queued before close
  pool.close();
  auto worker = join_worker(endpoint);
  EXPECT_EQ(f.result(30s), 49);
  ASSERT_EQ(mapped.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(mapped.get().back(), 49 * 49);
  EXPECT_TRUE(pool.join(30s));
}

// -- item 2: a batch queued behind a stuck task is taken by an idle worker ------------------------

TEST_F(PoolRobustness, CallsQueuedBehindAStuckTaskRunOnTheIdleWorker) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2, 30s));
  // The first worker gets the stuck task, the second a short one; calls that follow are
  // spread over both, so some wait behind the stuck task until the idle worker takes them.
  auto stuck = pool.apply_async<int64_t>("sleep_ms", int64_t{600'000});
  auto brief = pool.apply_async<int64_t>("sleep_ms", int64_t{300});
  std::vector<troupe::future<int64_t>> calls;
  for (int64_t i = 1; i <= 6; ++i)
    calls.push_back(pool.apply_async<int64_t>("square", i));
  for (int64_t i = 1; i <= 6; ++i)
    EXPECT_EQ(calls[static_cast<size_t>(i - 1)].result(30s), i * i);
  EXPECT_EQ(brief.result(30s), 300);
  // A map on the same pool, with the stuck task still running, returns too.
  EXPECT_EQ(pool.map<int64_t>("square", iota(6), 1), (std::vector<int64_t>{0, 1, 4, 9, 16, 25}));
  EXPECT_FALSE(stuck.done());
  pool.terminate();
  EXPECT_THROW(stuck.result(10s), troupe::task_error);
}

// -- item 3: task timeouts, cancel, terminate, bounded waits --------------------------------------

TEST_F(PoolRobustness, AnItemPastItsTimeoutFailsNamingItAndItsWorkerIsReplaced) {
  troupe::process_pool pool{head, {.workers = 2, .task_timeout = 500ms}};
  ASSERT_TRUE(pool.wait_for_workers(2, 30s));
  auto pids = worker_pids();
  try {
    pool.map<int64_t>("sleep_ms", std::vector<int64_t>{10, 10, 600'000, 10, 10}, 1);
    FAIL() << "the map should fail";
  } catch (const troupe::task_error& e) {
    EXPECT_EQ(code_of(e), errc::task_timeout) << e.what();
    EXPECT_NE(std::string{e.what()}.find("'sleep_ms' (item 2)"), std::string::npos) << e.what();
  }
  // The stuck worker process was replaced; the pool goes on with two workers.
  EXPECT_EQ(pool.map<int64_t>("square", iota(20), 1).back(), 19 * 19);
  ASSERT_TRUE(pool.wait_for_workers(2, 30s));
  auto stats = pool.stats();
  EXPECT_EQ(stats.timeouts, 1u);
  EXPECT_GE(stats.respawned, 1u);
  size_t gone = 0;
  for (auto pid : pids)
    gone += troupe::test::wait_gone(pid, 10s) ? 1 : 0;
  EXPECT_EQ(gone, 1u) << "exactly the worker that ran the stuck item is replaced";
}

TEST_F(PoolRobustness, APerCallTimeoutOverridesThePool) {
  troupe::process_pool pool{head, {.workers = 1}};
  auto slow = pool.apply_async<int64_t>("sleep_ms", int64_t{600'000},
                                        troupe::task_options{.timeout = 300ms});
  try {
    slow.result(30s);
    FAIL() << "the call should time out";
  } catch (const troupe::task_error& e) {
    EXPECT_EQ(code_of(e), errc::task_timeout) << e.what();
  }
  EXPECT_EQ(pool.apply_async<int64_t>("square", int64_t{3}).result(30s), 9);
}

TEST_F(PoolRobustness, CancelWithdrawsACallThatHasNotStarted) {
  troupe::process_pool pool{head, {.workers = 1}};
  ASSERT_TRUE(pool.wait_for_workers(1, 30s));
  // One worker holds two batches; the third call waits in the pool's queue.
  auto first = pool.apply_async<int64_t>("sleep_ms", int64_t{2000});
  auto second = pool.apply_async<int64_t>("sleep_ms", int64_t{2000});
  auto third = pool.apply_async<int64_t>("worker_pid", int64_t{0});
  std::this_thread::sleep_for(300ms);  // the dispatcher has sent the first two by now
  EXPECT_TRUE(third.cancel());
  EXPECT_TRUE(third.cancelled());
  EXPECT_TRUE(third.cancel()) << "cancel stays true";
  EXPECT_FALSE(first.cancel()) << "a running call cannot be cancelled";
  try {
    third.result(1s);
    FAIL() << "a cancelled call has no result";
  } catch (const troupe::task_error& e) {
    EXPECT_EQ(code_of(e), errc::cancelled);
  }
  EXPECT_EQ(first.result(30s), 2000);
  EXPECT_EQ(second.result(30s), 2000);
  EXPECT_FALSE(first.cancelled());
  pool.close();
  EXPECT_TRUE(pool.join(30s));
  EXPECT_EQ(pool.stats().tasks_completed, 2u) << "the cancelled call never ran";
}

TEST_F(PoolRobustness, TerminateKillsTheWorkersAndFailsEveryPendingCall) {
  troupe::process_pool pool{head, {.workers = 2}};
  ASSERT_TRUE(pool.wait_for_workers(2, 30s));
  auto pids = worker_pids();
  std::vector<troupe::future<int64_t>> calls;
  for (int i = 0; i < 5; ++i)
    calls.push_back(pool.apply_async<int64_t>("sleep_ms", int64_t{600'000}));
  std::this_thread::sleep_for(200ms);
  pool.terminate();
  for (auto& f : calls) {
    try {
      f.result(10s);
      FAIL() << "a terminated call has no result";
    } catch (const troupe::task_error& e) {
      EXPECT_EQ(code_of(e), errc::terminated) << e.what();
    }
  }
  for (auto pid : pids)
    EXPECT_TRUE(troupe::test::wait_gone(pid, 10s)) << "worker " << pid << " still runs";
  EXPECT_THROW(pool.apply_async<int64_t>("square", int64_t{2}).result(10s), troupe::task_error);
}

TEST_F(PoolRobustness, JoinResultAndAsCompletedTakeTimeouts) {
  troupe::process_pool pool{head, {.workers = 1}};
  auto slow = pool.apply_async<int64_t>("sleep_ms", int64_t{1500});
  EXPECT_THROW(slow.result(50ms), troupe::timeout_error);
  std::vector<troupe::future<int64_t>> both{slow, pool.apply_async<int64_t>("square", int64_t{4})};
  EXPECT_THROW(
      {
        for (auto& f : troupe::as_completed(both, 50ms))
          static_cast<void>(f);
      },
      troupe::timeout_error);
  pool.close();
  EXPECT_FALSE(pool.join(50ms)) << "work is still running";
  EXPECT_TRUE(pool.join(30s));
  EXPECT_EQ(slow.result(1s), 1500);
  int seen = 0;
  for (auto& f : troupe::as_completed(both, 1s))
    seen += f.done() ? 1 : 0;
  EXPECT_EQ(seen, 2);
}

// -- item 4: no workers and no way for any to join ------------------------------------------------

TEST_F(PoolRobustness, APoolWithoutWorkersOrListenerIsRefusedAtOnce) {
  try {
    troupe::process_pool pool{head, {.workers = 0}};
    FAIL() << "the pool could never run anything";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string{e.what()}.find("--listen"), std::string::npos) << e.what();
    EXPECT_NE(std::string{e.what()}.find("--workers"), std::string::npos) << e.what();
  }
}

TEST(PoolProcess, AProgramWithNoWorkersAndNoListenerExitsAtOnceSayingWhatToDo) {
  auto head = troupe::test::start(
      {troupe::test::self_path(), "head-for-test", "--pool-wait-for", "1", "--workers", "0"});
  auto status = head.wait(20s);
  ASSERT_TRUE(status) << "the program waited for workers that can never come: " << head.output;
  EXPECT_EQ(*status, 2) << head.output;
  EXPECT_NE(head.output.find("--listen"), std::string::npos) << head.output;
}

TEST(PoolProcess, AHeadWaitingForWorkersSaysHowManyJoinedAndWhereToConnect) {
  auto head = troupe::test::start({troupe::test::self_path(), "head-for-test", "--pool-wait-for",
                                   "1", "--workers", "0", "--listen", "127.0.0.1:0", "--log-level",
                                   "warn", "--insecure-loopback"});
  EXPECT_TRUE(head.read_until("waiting for workers: 0 ready of 1", 20s)) << head.output;
  EXPECT_TRUE(head.read_until("--join 127.0.0.1:", 5s)) << head.output;
  head.kill_now();
}

// -- item 5: worker processes that cannot start ---------------------------------------------------

TEST(PoolStartUp, WorkersFailingAtStartUpFailThePoolWithTheirExitStatusAndLastLine) {
  troupe::config cfg;
  troupe::test::head_config(cfg);
  caf::actor_system sys{cfg};
  troupe::node_options opts;
  opts.name = "head";
  opts.log_level = "off";
  opts.worker_args = {"--no-such-flag"};  // every worker exits while parsing its flags
  troupe::node head{sys, opts};
  troupe::process_pool pool{head, {.workers = 1}};
  try {
    pool.apply_async<int64_t>("square", int64_t{2}).result(60s);
    FAIL() << "no worker can start";
  } catch (const troupe::task_error& e) {
    EXPECT_EQ(code_of(e), errc::worker_start_failed) << e.what();
    EXPECT_NE(std::string{e.what()}.find("status 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string{e.what()}.find("--no-such-flag"), std::string::npos) << e.what();
  }
  // Later calls fail at once with the same reason rather than wait.
  EXPECT_THROW(pool.apply_async<int64_t>("square", int64_t{2}).result(10s), troupe::task_error);
  EXPECT_THROW(pool.wait_for_workers(1, 10s), troupe::task_error);
}

// -- items 6 and 8: workers that lie or go silent, seen through a second node ---------------------

// A node in this process that joins the head over TCP and answers the pool's runner with
// `runner_behavior` instead of the real one.
struct rogue_worker {
  template <class Behavior>
  rogue_worker(const std::string& endpoint, Behavior runner_behavior)
      : sys(prepare(runner_behavior)) {
    troupe::node_options opts;
    opts.name = "rogue";
    opts.log_level = "off";
    opts.heartbeat_interval = 200ms;
    opts.heartbeat_timeout = 1500ms;
    n.emplace(sys, opts);
    auto colon = endpoint.rfind(':');
    auto joined = n->connect(endpoint.substr(0, colon),
                             static_cast<uint16_t>(std::stoi(endpoint.substr(colon + 1))), 10s);
    EXPECT_TRUE(joined);
  }

  template <class Behavior>
  troupe::config& prepare(Behavior runner_behavior) {
    troupe::test::setup(cfg);
    cfg.add_actor_type(troupe::task_runner_type, runner_behavior);
    return cfg;
  }

  troupe::config cfg;
  caf::actor_system sys;
  std::optional<troupe::node> n;
};

// Answers every batch with one result too few.
caf::behavior lying_runner(caf::event_based_actor*) {
  return {
      [](const troupe::pool::TaskBatch& batch) {
        troupe::pool::ResultBatch result;
        result.set_batch_id(batch.batch_id());
        return result;
      },
      [](const troupe::pool::RevokeBatch&) {},
  };
}

// Takes batches and never answers (its node keeps heartbeating).
caf::behavior silent_runner(caf::event_based_actor* self) {
  return {
      [self](const troupe::pool::TaskBatch&) {
        return self->make_response_promise<troupe::pool::ResultBatch>();
      },
      [](const troupe::pool::RevokeBatch&) {},
  };
}

TEST_F(PoolRobustness, AMalformedResultDropsItsWorkerAndTheWorkRunsElsewhere) {
  auto endpoint = listen();
  troupe::process_pool pool{head, {.workers = 0}};
  auto work =
      std::async(std::launch::async, [&] { return pool.map<int64_t>("square", iota(8), 1); });
  {
    rogue_worker liar{endpoint, lying_runner};
    // It gets a batch, lies, and is dropped; then it leaves altogether.
    for (int i = 0; i < 500 && pool.stats().fenced == 0; ++i)
      std::this_thread::sleep_for(20ms);
    EXPECT_EQ(pool.stats().fenced, 1u);
  }
  auto honest = join_worker(endpoint);
  ASSERT_EQ(work.wait_for(60s), std::future_status::ready) << "the map never returned";
  auto squares = work.get();
  for (size_t i = 0; i < squares.size(); ++i)
    EXPECT_EQ(squares[i], static_cast<int64_t>(i * i));
  pool.close();
  EXPECT_TRUE(pool.join(30s));
}

TEST_F(PoolRobustness, AClosingPoolReplacesAKilledWorkerToFinishItsWork) {
  troupe::process_pool pool{head, {.workers = 1}};
  ASSERT_TRUE(pool.wait_for_workers(1, 30s));
  auto pid = worker_pids().front();
  auto f = pool.apply_async<int64_t>("sleep_ms", int64_t{1000});
  pool.close();
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_TRUE(pool.join(60s));
  EXPECT_EQ(f.result(1s), 1000);
  EXPECT_EQ(pool.stats().respawned, 1u);
}

TEST_F(PoolRobustness, AWorkerThatHeartbeatsButNeverAnswersIsFencedAtTheDeadline) {
  auto endpoint = listen();
  troupe::process_pool pool{head, {.workers = 0, .task_timeout = 300ms}};
  rogue_worker mute{endpoint, silent_runner};
  ASSERT_TRUE(pool.wait_for_workers(1, 30s));
  auto work =
      std::async(std::launch::async, [&] { return pool.map<int64_t>("square", iota(4), 1); });
  for (int i = 0; i < 1000 && pool.stats().fenced == 0; ++i)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(pool.stats().fenced, 1u) << "the silent worker was never dropped";
  auto honest = join_worker(endpoint);
  ASSERT_EQ(work.wait_for(60s), std::future_status::ready) << "the map never returned";
  EXPECT_EQ(work.get(), (std::vector<int64_t>{0, 1, 4, 9}));
}

TEST_F(PoolRobustness, WithoutATimeoutASilentWorkerIsFoundByItsProbeAndDropped) {
  auto endpoint = listen();
  troupe::process_pool pool{head, {.workers = 1, .probe_interval = 500ms}};
  ASSERT_TRUE(pool.wait_for_workers(1, 30s));
  rogue_worker mute{endpoint, silent_runner};
  ASSERT_TRUE(pool.wait_for_workers(2, 30s));
  auto squares = pool.map<int64_t>("square", iota(40), 1);
  EXPECT_EQ(squares.back(), 39 * 39);
  EXPECT_EQ(pool.stats().fenced, 1u);
}

// Workers whose replies are wrong in ways a careless or hostile peer would make them.
caf::behavior revoked_runner(caf::event_based_actor*) {  // "revoked", never asked to
  return {[](const troupe::pool::TaskBatch&) -> caf::result<troupe::pool::ResultBatch> {
    return troupe::make_error(errc::revoked, "not asked");
  }};
}
caf::behavior erring_runner(caf::event_based_actor*) {  // an error instead of results
  return {[](const troupe::pool::TaskBatch&) -> caf::result<troupe::pool::ResultBatch> {
    return troupe::make_error(errc::unknown_task, "no such task here");
  }};
}
caf::behavior garbling_runner(caf::event_based_actor*) {  // records that do not parse
  return {[](const troupe::pool::TaskBatch& batch) {
    troupe::pool::ResultBatch result;
    result.set_batch_id(batch.batch_id());
    for (uint32_t i = 0; i < batch.count(); ++i)
      troupe::items::append(*result.mutable_results(), std::string{"\xff\xff\xff"});
    return result;
  }};
}
caf::behavior misaddressing_runner(caf::event_based_actor*) {  // another batch's id
  return {[](const troupe::pool::TaskBatch& batch) {
    troupe::pool::ResultBatch result;
    result.set_batch_id(batch.batch_id() + 1000);
    for (uint32_t i = 0; i < batch.count(); ++i)
      troupe::items::append(*result.mutable_results(), int64_t{666});
    return result;
  }};
}

TEST_F(PoolRobustness, AWorkerWithWrongRepliesIsDroppedAndItsWorkRunsElsewhere) {
  auto endpoint = listen();
  std::vector<std::pair<const char*, caf::behavior (*)(caf::event_based_actor*)>> liars{
      {"revoked unasked", revoked_runner},
      {"an error reply", erring_runner},
      {"unreadable records", garbling_runner},
      {"another batch's id", misaddressing_runner}};
  for (auto& [what, runner] : liars) {
    SCOPED_TRACE(what);
    troupe::process_pool pool{head, {.workers = 1}};
    rogue_worker liar{endpoint, runner};
    ASSERT_TRUE(pool.wait_for_workers(2, 30s));
    auto squares = pool.map<int64_t>("square", iota(8), 1);
    for (size_t i = 0; i < squares.size(); ++i)
      EXPECT_EQ(squares[i], static_cast<int64_t>(i * i));
    EXPECT_EQ(pool.stats().fenced, 1u);
  }
}

TEST_F(PoolRobustness, TimeoutsTooLongToMeanAnythingMeanNoLimit) {
  troupe::process_pool pool{head, {.workers = 1, .task_timeout = std::chrono::milliseconds::max()}};
  EXPECT_EQ(pool.map<int64_t>("sleep_ms", std::vector<int64_t>{5, 5, 5}, 2),
            (std::vector<int64_t>{5, 5, 5}));
  auto f = pool.apply_async<int64_t>(
      "sleep_ms", int64_t{100},
      troupe::task_options{.timeout = std::chrono::hours{24 * 365 * 1000}});
  EXPECT_EQ(f.result(std::chrono::hours::max()), 100);
  std::vector<troupe::future<int64_t>> one{pool.apply_async<int64_t>("square", int64_t{3})};
  for (auto& g : troupe::as_completed(one, std::chrono::milliseconds::max()))
    EXPECT_EQ(g.result(), 9);
  pool.close();
  EXPECT_TRUE(pool.join(std::chrono::milliseconds::max()));
  EXPECT_EQ(pool.stats().timeouts, 0u);
}

TEST_F(PoolRobustness, ACallbackMayWaitForAnotherCallWithoutFreezingThePool) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto later = pool.apply_async<int64_t>("sleep_ms", int64_t{600});
  std::promise<int64_t> seen;
  auto sooner = pool.apply_async<int64_t>("sleep_ms", int64_t{100});
  sooner.add_done_callback([&](const troupe::future<int64_t>&) {
    seen.set_value(later.result());  // blocks this callback until the other call is done
  });
  auto in_callback = seen.get_future();
  ASSERT_EQ(in_callback.wait_for(30s), std::future_status::ready) << "the pool froze";
  EXPECT_EQ(in_callback.get(), 600);
  EXPECT_EQ(sooner.result(1s), 100);
}

TEST_F(PoolRobustness, ImapUnorderedWaitsForEachItemAtMostItsTimeout) {
  troupe::process_pool pool{head, {.workers = 2}};
  int64_t sum = 0;
  auto results = pool.imap_unordered<int64_t>("square", iota(10), 3);
  while (auto v = results.next(30s))
    sum += *v;
  EXPECT_EQ(sum, 285);
}

TEST_F(PoolRobustness, CallsOfATaskNotYetMeasuredAreNotMergedIntoOneSerialBatch) {
  troupe::process_pool pool{head, {.workers = 2}};
  std::vector<troupe::future<int64_t>> calls;
  for (int i = 0; i < 8; ++i)  // before the workers are up: all of them wait in the queue
    calls.push_back(pool.apply_async<int64_t>("sleep_ms", int64_t{200}));
  for (auto& f : calls)
    EXPECT_EQ(f.result(30s), 200);
  auto per_worker = pool.stats().items_per_worker;
  ASSERT_EQ(per_worker.size(), 2u);
  for (auto& [name, items] : per_worker)
    EXPECT_GE(items, 2u) << name;
}

}  // namespace
