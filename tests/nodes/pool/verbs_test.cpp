// Every verb of the process pool on real worker processes: submit, apply, apply_async (args
// tuple, callback, error_callback), map of several inputs, map_async, starmap, starmap_async,
// imap (ordered and lazy), imap_unordered (items), map_outcomes, shutdown, void results. Tasks
// that must wait are held by a gate file the test creates, so nothing depends on timing.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "../head_fixture.hpp"
#include "troupe/nodes/pool/process_pool.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::errc;

int64_t cube(int64_t x) {
  if (x == 13)
    throw std::invalid_argument("13 is not cubed");
  return x * x * x;
}

// Waits (at most a minute) until the file `path` exists, then returns the path.
std::string gate(std::string path) {
  auto until = std::chrono::steady_clock::now() + 60s;
  while (!std::filesystem::exists(path)) {
    if (std::chrono::steady_clock::now() > until)
      throw std::runtime_error("gate " + path + " never opened");
    std::this_thread::sleep_for(2ms);
  }
  return path;
}

// A task without a result: creates the file `path`.
void touch(std::string path) {
  std::ofstream{path} << "touched";
  if (!std::ofstream{path})
    throw std::runtime_error("cannot write " + path);
}

troupe::test::setup_step verbs_tasks{[](troupe::config& cfg) {
  cfg.tasks().add("verbs.cube", cube).add("verbs.gate", gate).add("verbs.touch", touch);
}};

struct PoolVerbs : troupe::test::head_fixture {
  PoolVerbs() : head_fixture(1500ms) {}

  // A path in a fresh directory of this test: gates are opened by creating them.
  std::string path(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path()
               / ("troupe-verbs-" + std::to_string(::getpid()) + "-"
                  + testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
    return (dir / name).string();
  }
  static void open(const std::string& gate_path) {
    std::ofstream{gate_path} << "open";
  }
  ~PoolVerbs() override {
    std::error_code ignored;  // a leftover temporary directory is not the test's failure
    std::filesystem::remove_all(std::filesystem::path{path("x")}.parent_path(), ignored);
  }
};

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> xs(static_cast<size_t>(n));
  std::iota(xs.begin(), xs.end(), 0);
  return xs;
}

TEST_F(PoolVerbs, SubmitAndApplyReturnTheResult) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto f = pool.submit(cube, 3);
  EXPECT_EQ(f.result(30s), 27);
  EXPECT_EQ(pool.apply(cube, int64_t{4}), 64);
  EXPECT_THROW(pool.apply(cube, 13), std::invalid_argument);  // its own type, as on the worker
  auto bounded = pool.submit(troupe::task_options{.timeout = 10s}, cube, 5);
  EXPECT_EQ(bounded.result(30s), 125);
}

TEST_F(PoolVerbs, ApplyAsyncCallsTheCallbackOrTheErrorCallbackOnTheCallbackThread) {
  troupe::process_pool pool{head, {.workers = 2}};
  std::promise<int64_t> value;
  std::promise<std::string> failure;
  auto caller = std::this_thread::get_id();
  std::atomic<bool> off_caller{true};
  auto ok = pool.apply_async(
      cube, std::tuple{2}, [&](int64_t v) { value.set_value(v); },
      [&](const caf::error& e) { failure.set_value("unexpected: " + troupe::describe(e)); });
  auto bad = pool.apply_async(
      cube, std::tuple{13}, [&](int64_t) { value.set_value(-1); },
      [&](const caf::error& e) {
        off_caller = off_caller && std::this_thread::get_id() != caller;
        failure.set_value(troupe::describe(e));
      });
  auto v = value.get_future();
  auto e = failure.get_future();
  ASSERT_EQ(v.wait_for(30s), std::future_status::ready);
  ASSERT_EQ(e.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(v.get(), 8);
  EXPECT_NE(e.get().find("13 is not cubed"), std::string::npos);
  EXPECT_TRUE(off_caller);
  EXPECT_EQ(ok.result(30s), 8);
  EXPECT_TRUE(troupe::is(bad.error(), errc::task_failed));
}

TEST_F(PoolVerbs, MapOfOneOrSeveralInputsAndMapAsyncKeepInputOrder) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto xs = iota(200);
  xs.erase(xs.begin() + 13);
  std::vector<int64_t> cubes;
  for (auto x : xs)
    cubes.push_back(x * x * x);
  EXPECT_EQ(pool.map(cube, xs), cubes);
  EXPECT_EQ(pool.map(cube, xs, 7), cubes);
  auto later = pool.map_async(cube, xs, 5);
  EXPECT_EQ(later.result(60s), cubes);
  auto failing = pool.map_async(cube, iota(20));
  ASSERT_TRUE(failing.wait_for(60s));
  EXPECT_NE(troupe::describe(failing.error()).find("item 13"), std::string::npos);
}

TEST_F(PoolVerbs, AMapCutIntoChunksByTheirBytesKeepsInputOrderAndItsLastFailure) {
  troupe::process_pool pool{head, {.workers = 2}};
  // One chunk by its item count, several by their bytes (detail::max_chunk_bytes).
  auto xs = iota(300'000);
  xs.erase(xs.begin() + 13);
  std::vector<int64_t> cubes;
  for (auto x : xs)
    cubes.push_back(x * x * x);
  EXPECT_EQ(pool.map(cube, xs, xs.size()), cubes);
  xs.back() = 13;  // a failure in the last chunk, thrown once every chunk is in
  EXPECT_THROW(pool.map(cube, xs, xs.size()), std::invalid_argument);
  auto outcomes = pool.map_outcomes(cube, xs, xs.size());
  ASSERT_EQ(outcomes.size(), xs.size());
  EXPECT_NE(troupe::describe(outcomes.back().error()).find("item " + std::to_string(xs.size() - 1)),
            std::string::npos);
  outcomes.pop_back();
  cubes.pop_back();
  std::vector<int64_t> values;
  for (auto& o : outcomes)
    values.push_back(o ? *o : -1);
  EXPECT_EQ(values, cubes);
}

TEST_F(PoolVerbs, StarmapUnpacksEachTuple) {
  troupe::process_pool pool{head, {.workers = 2}};
  std::vector<std::tuple<int64_t>> args{{1}, {2}, {3}};
  EXPECT_EQ(pool.starmap(cube, args), (std::vector<int64_t>{1, 8, 27}));
  EXPECT_EQ(pool.starmap_async(cube, args, 1).result(60s), (std::vector<int64_t>{1, 8, 27}));
}

TEST_F(PoolVerbs, ImapYieldsInOrderAsSoonAsTheNextResultIsReady) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto first = path("first");
  auto second = path("second");
  open(first);
  auto results = pool.imap(gate, std::vector<std::string>{first, second});
  EXPECT_EQ(results.size(), 2u);
  // The first is there while the second still waits at its gate: imap does not wait for all.
  EXPECT_EQ(results.next(30s), first);
  EXPECT_THROW(results.next(50ms), troupe::timeout_error);
  open(second);
  EXPECT_EQ(results.next(30s), second);
  EXPECT_EQ(results.next(30s), std::nullopt);
}

TEST_F(PoolVerbs, ImapUnorderedYieldsItemsAsTheirChunksComplete) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto held = path("held");
  auto free = path("free");
  open(free);
  auto results = pool.imap_unordered(gate, std::vector<std::string>{held, free});
  EXPECT_EQ(results.next(30s), free);  // the held one cannot complete before its gate opens
  open(held);
  EXPECT_EQ(results.next(30s), held);
  EXPECT_EQ(results.next(30s), std::nullopt);
  std::multiset<int64_t> seen;
  for (auto v : pool.imap_unordered(cube, std::vector<int64_t>{1, 2, 3, 4, 5}, 2))
    seen.insert(v);
  EXPECT_EQ(seen, (std::multiset<int64_t>{1, 8, 27, 64, 125}));
}

TEST_F(PoolVerbs, ImapThrowsAtAFailedItemAndGoesOnAfterIt) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto results = pool.imap(cube, std::vector<int64_t>{12, 13, 14});
  EXPECT_EQ(results.next(30s), 1728);
  EXPECT_THROW(results.next(30s), std::invalid_argument);  // the task's own type
  EXPECT_EQ(results.next(30s), 2744);
}

// Leaving an imap loop early withdraws what is still queued in the head: of 200 items held at
// one gate, only those already sent to the worker (at most its window of 32 batches) still run.
TEST_F(PoolVerbs, BreakingOutOfImapWithdrawsTheItemsStillQueued) {
  troupe::process_pool pool{head, {.workers = 1}};
  auto first = path("first");
  auto held = path("held");
  open(first);
  std::vector<std::string> gates(200, held);
  gates.front() = first;
  for (auto& passed : pool.imap(gate, gates)) {
    EXPECT_EQ(passed, first);
    break;
  }
  open(held);
  pool.shutdown();  // waits for what the worker holds
  auto completed = pool.stats().tasks_completed;
  EXPECT_GE(completed, 1u);
  EXPECT_LE(completed, 1u + 32u) << "queued items ran after the loop was left";
}

TEST_F(PoolVerbs, MapOutcomesKeepsEveryGoodResultNextToTheBadOne) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto outcomes = pool.map_outcomes(cube, iota(20), 3);
  ASSERT_EQ(outcomes.size(), 20u);
  for (int64_t i = 0; i < 20; ++i) {
    if (i == 13) {
      ASSERT_FALSE(outcomes[i]);
      EXPECT_TRUE(troupe::is(outcomes[i].error(), errc::task_failed));
      EXPECT_NE(troupe::describe(outcomes[i].error()).find("13 is not cubed"), std::string::npos);
    } else {
      ASSERT_TRUE(outcomes[i]) << troupe::describe(outcomes[i].error());
      EXPECT_EQ(*outcomes[i], i * i * i);
    }
  }
}

TEST_F(PoolVerbs, ATaskWithoutAResultCompletesItsFuture) {
  troupe::process_pool pool{head, {.workers = 1}};
  auto file = path("touched");
  troupe::future<void> f = pool.submit(touch, file);
  f.result(30s);
  EXPECT_TRUE(std::filesystem::exists(file));
  auto more = std::vector<std::string>{path("a"), path("b")};
  pool.map(touch, more);
  EXPECT_TRUE(std::filesystem::exists(more[0]) && std::filesystem::exists(more[1]));
  auto outcomes = pool.map_outcomes(touch, std::vector<std::string>{"/nonexistent-dir/x"});
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_FALSE(outcomes[0]);
}

TEST_F(PoolVerbs, ShutdownWithCancelFuturesFailsWhatHasNotStarted) {
  troupe::process_pool pool{head, {.workers = 1}};
  ASSERT_TRUE(pool.wait_for_workers(1));
  auto gate_path = path("gate");
  auto running = pool.submit(gate, gate_path);
  // running() once the dispatcher has sent it to the worker (it then blocks on the gate).
  auto until = std::chrono::steady_clock::now() + 30s;
  while (!running.running() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(running.running());
  EXPECT_FALSE(running.cancel());  // started: too late to withdraw
  std::vector<troupe::future<int64_t>> queued;
  for (int64_t i = 0; i < 10; ++i)
    queued.push_back(pool.submit(cube, i));
  EXPECT_FALSE(queued.back().running());
  pool.shutdown({.wait = false, .cancel_futures = true});
  open(gate_path);
  EXPECT_EQ(running.result(30s), gate_path);
  size_t cancelled = 0;
  for (auto& f : queued) {
    ASSERT_TRUE(f.wait_for(30s));
    if (f.error()) {
      EXPECT_TRUE(troupe::is(f.error(), errc::cancelled)) << troupe::describe(f.error());
      EXPECT_TRUE(f.cancelled());
      ++cancelled;
    }
  }
  // The worker holds at most its window of unmeasured batches (2): the rest were queued.
  EXPECT_GE(cancelled, 8u);
  auto refused = pool.submit(cube, 2);
  ASSERT_TRUE(refused.wait_for(10s));
  EXPECT_TRUE(troupe::is(refused.error(), errc::pool_closed));
  pool.shutdown();  // waits
}

TEST_F(PoolVerbs, ASlowCallbackDoesNotHoldUpDispatchOrOtherFutures) {
  troupe::process_pool pool{head, {.workers = 2}};
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> entered{false};
  pool.apply_async(cube, std::tuple{1}, [&](int64_t) {
    entered = true;
    released.wait_for(60s);  // blocks the callback thread until the test is done
  });
  for (int i = 0; i < 3000 && !entered; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(entered);
  // With the callback thread blocked, futures still complete and maps still run.
  EXPECT_EQ(pool.submit(cube, 3).result(30s), 27);
  EXPECT_EQ(pool.map(cube, std::vector<int64_t>{1, 2, 3}), (std::vector<int64_t>{1, 8, 27}));
  std::promise<void> later;
  pool.apply_async(cube, std::tuple{2}, [&](int64_t) { later.set_value(); });
  release.set_value();
  EXPECT_EQ(later.get_future().wait_for(30s), std::future_status::ready)
      << "a callback queued behind the slow one runs once it returns";
}

}  // namespace
