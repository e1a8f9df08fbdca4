// troupe::flow under CAF's test coordinator: one step runs one actor on one message, so the
// tests can count how far the producer runs ahead of its consumers, kill an actor at a chosen
// point of the stream and fire the pacing timer by hand. Nothing here depends on real time.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <iterator>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "troupe/actors/flow.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/messages/config.hpp"

namespace {

namespace flow = troupe::flow;
using namespace std::chrono_literals;

struct testing_config : troupe::config {
  testing_config() {
    set("scheduler.policy", caf::atom("testing"));
    // No multiplexer thread, and a middleman that stops without a running scheduler.
    set("middleman.network-backend", caf::atom("testing"));
  }
};

// What a consumer saw.
struct record {
  std::vector<int> items;
  int ends = 0;
  caf::error reason;
};

// How an actor terminated, observed when it happens.
struct termination {
  bool terminated = false;
  caf::error reason;
};

std::vector<int> range(int n) {
  std::vector<int> xs(n);
  std::iota(xs.begin(), xs.end(), 0);
  return xs;
}

std::vector<int> sorted(std::vector<int> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

class Flow : public testing::Test {
protected:
  ~Flow() override {
    // The actor system waits for every actor before it stops, and only the test runs them:
    // end whatever a failed test left behind.
    for (auto& actor : actors)
      caf::anon_send_exit(actor, caf::exit_reason::kill);
    sched.run();
  }

  /// A producer of 0, 1, ..., n - 1.
  caf::actor numbers(int n, flow::producer_options opts = {}) {
    auto hdl = flow::spawn_producer<int>(
        sys,
        [this, n]() -> std::optional<int> {
          if (produced == n)
            return std::nullopt;
          trace += 'P';
          // The lead only grows here, so checking here sees every peak.
          max_ahead = std::max(max_ahead, ++produced - consumed);
          return produced - 1;
        },
        opts);
    actors.push_back(hdl);
    return hdl;
  }

  caf::actor consumer(record& rec, uint32_t window) {
    auto hdl = flow::spawn_consumer<int>(
        sys,
        [this, &rec](const int& x) {
          rec.items.push_back(x);
          trace += 'C';
          ++consumed;
        },
        [&rec](const caf::error& reason) {
          ++rec.ends;
          rec.reason = reason;
        },
        {.window = window});
    actors.push_back(hdl);
    return hdl;
  }

  termination& watch(const caf::actor& hdl) {
    auto& out = terminations.emplace_back();
    caf::actor_cast<caf::abstract_actor*>(hdl)->attach_functor([&out](const caf::error& reason) {
      out.terminated = true;
      out.reason = reason;
    });
    return out;
  }

  /// Runs one message at a time until `done` holds; false if the actors went idle first.
  bool run_until(const std::function<bool()>& done) {
    while (!done())
      if (!sched.try_run_once())
        return false;
    return true;
  }

  /// The producer's largest lead over one consumer during a stream of n items.
  int max_items_ahead(uint32_t window, int n) {
    auto& rec = records.emplace_back();
    flow::subscribe(numbers(n), consumer(rec, window));
    sched.run();
    EXPECT_EQ(rec.items, range(n));
    EXPECT_EQ(rec.ends, 1);
    return max_ahead;
  }

  // What the actors report into outlives them: declared before the actor system.
  std::deque<record> records;
  std::deque<termination> terminations;
  int produced = 0;   // items the source returned
  int consumed = 0;   // items any consumer processed
  int max_ahead = 0;  // the largest produced - consumed so far
  std::string trace;  // P for each item produced, C for each item consumed

  testing_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::vector<caf::actor> actors;
};

TEST_F(Flow, ProducerIsNeverMoreThanOneItemAheadWithWindowOne) {
  EXPECT_EQ(max_items_ahead(1, 10), 1);
}

TEST_F(Flow, ProducerIsNeverMoreThanFourItemsAheadWithWindowFour) {
  // 23 items: not a multiple of the acknowledgement batch, so the stream ends with a Flush.
  EXPECT_EQ(max_items_ahead(4, 23), 4);
}

TEST_F(Flow, WindowOneHandsOverOneItemAtATime) {
  // The condition-variable handoff: produce and consume strictly alternate.
  auto& rec = records.emplace_back();
  flow::subscribe(numbers(5), consumer(rec, 1));
  sched.run();
  EXPECT_EQ(trace, "PCPCPCPCPC");
  EXPECT_EQ(rec.items, range(5));
}

TEST_F(Flow, EndOfStreamReachesEveryConsumer) {
  constexpr int n = 31;
  auto producer = numbers(n);
  auto& producer_end = watch(producer);
  for (int i = 0; i < 3; ++i)
    flow::subscribe(producer, consumer(records.emplace_back(), 2));
  sched.run();
  std::vector<int> all;
  for (auto& rec : records) {
    EXPECT_EQ(rec.ends, 1);
    EXPECT_FALSE(rec.reason) << troupe::describe(rec.reason);
    EXPECT_FALSE(rec.items.empty()) << "the consumers share the stream";
    all.insert(all.end(), rec.items.begin(), rec.items.end());
  }
  EXPECT_EQ(sorted(all), range(n));  // every item exactly once
  EXPECT_TRUE(producer_end.terminated);
  EXPECT_TRUE(troupe::exited_normally(producer_end.reason))
      << troupe::describe(producer_end.reason);
}

TEST_F(Flow, ItemsOfAConsumerThatDiesAreResentToTheOthers) {
  constexpr int n = 40;
  auto producer = numbers(n);
  auto& victim = records.emplace_back();
  record* survivors[] = {&records.emplace_back(), &records.emplace_back()};
  // Window 5 acknowledges in pairs: after its first 5 items the victim has processed item 4
  // without acknowledging it, and the credit it granted brings more items it will never see.
  auto doomed = consumer(victim, 5);
  flow::subscribe(producer, doomed);
  for (auto* rec : survivors)
    flow::subscribe(producer, consumer(*rec, 4));
  ASSERT_TRUE(run_until([&] { return victim.items.size() == 5; }));
  caf::anon_send_exit(doomed, caf::exit_reason::kill);
  sched.run();
  ASSERT_EQ(victim.items, range(5)) << "the victim processed items after the kill";
  std::vector<int> delivered;
  for (auto* rec : survivors) {
    EXPECT_EQ(rec->ends, 1);
    EXPECT_FALSE(rec->reason) << troupe::describe(rec->reason);
    delivered.insert(delivered.end(), rec->items.begin(), rec->items.end());
  }
  delivered = sorted(delivered);
  EXPECT_EQ(std::adjacent_find(delivered.begin(), delivered.end()), delivered.end())
      << "a survivor received an item twice";
  EXPECT_TRUE(std::binary_search(delivered.begin(), delivered.end(), 4))
      << "the victim's unacknowledged item was not re-sent";
  // Together: nothing lost (item 4 arrives twice, which the protocol allows).
  std::vector<int> covered;
  std::set_union(delivered.begin(), delivered.end(), victim.items.begin(), victim.items.end(),
                 std::back_inserter(covered));
  EXPECT_EQ(covered, range(n));
}

TEST_F(Flow, ConsumersOfAProducerThatDiesEndWithAnError) {
  auto producer = numbers(100);
  for (int i = 0; i < 2; ++i) {
    auto hdl = consumer(records.emplace_back(), 2);
    watch(hdl);
    flow::subscribe(producer, hdl);
  }
  ASSERT_TRUE(run_until([&] { return !records[0].items.empty() && !records[1].items.empty(); }));
  caf::anon_send_exit(producer, caf::exit_reason::kill);
  sched.run();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(records[i].ends, 1);
    EXPECT_TRUE(records[i].reason) << "the stream ended as if complete";
    EXPECT_LT(records[i].items.size(), size_t{100});
    EXPECT_TRUE(terminations[i].terminated) << "consumer " << i << " still waits for items";
    EXPECT_FALSE(troupe::exited_normally(terminations[i].reason))
        << troupe::describe(terminations[i].reason);
  }
}

TEST_F(Flow, PacedProducerSendsTheNextItemOnlyWhenItsTimerFires) {
  auto& rec = records.emplace_back();
  flow::subscribe(numbers(3, {.interval = 1s}), consumer(rec, 4));
  sched.run();
  // Credit for 4 items, but the interval holds back all but the first.
  EXPECT_EQ(produced, 1);
  EXPECT_EQ(rec.items, range(1));
  for (int fired = 1; fired <= 3; ++fired) {
    ASSERT_TRUE(sched.trigger_timeout()) << "no timer pending after item " << fired;
    sched.run();
    EXPECT_EQ(produced, std::min(fired + 1, 3));
  }
  EXPECT_EQ(rec.items, range(3));
  EXPECT_EQ(rec.ends, 1);
  EXPECT_FALSE(rec.reason);
}

// A second subscribe of the same consumer must not grant it a second window.
TEST_F(Flow, SubscribingTwiceDoesNotWidenTheWindow) {
  auto& rec = records.emplace_back();
  auto producer = numbers(20);
  auto hdl = consumer(rec, 2);
  flow::subscribe(producer, hdl);
  flow::subscribe(producer, hdl);
  sched.run();
  EXPECT_EQ(rec.items, range(20));
  EXPECT_EQ(rec.ends, 1);
  EXPECT_EQ(max_ahead, 2);
}

// A consumer subscribed to a producer that has already finished ends with an error instead
// of waiting for an Offer that never comes.
TEST_F(Flow, SubscribingToAFinishedProducerEndsTheConsumerWithAnError) {
  auto& first = records.emplace_back();
  auto producer = numbers(3);
  flow::subscribe(producer, consumer(first, 2));
  sched.run();
  ASSERT_EQ(first.ends, 1);
  auto& late = records.emplace_back();
  flow::subscribe(producer, consumer(late, 2));
  sched.run();
  EXPECT_EQ(late.ends, 1);
  EXPECT_TRUE(troupe::is(late.reason, troupe::errc::stream_aborted))
      << troupe::describe(late.reason);
  EXPECT_TRUE(late.items.empty());
}

}  // namespace
