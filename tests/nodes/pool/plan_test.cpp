// The process pool's decisions on their own (nodes/pool/plan.hpp): windows, merging, the choice
// of a worker, deadlines and revocation, without processes or actors.
#include "troupe/nodes/pool/plan.hpp"

#include <gtest/gtest.h>

#include "troupe/actors/future.hpp"

namespace {

using namespace std::chrono_literals;
using namespace troupe::pool_plan;

cost_model measured(const std::string& task, double item_ns, double overhead_ns) {
  cost_model costs;
  // A round trip of exactly item + overhead, not queued: the first sample is taken as is.
  costs.learn(task, 1, item_ns, item_ns + overhead_ns, false);
  return costs;
}

TEST(PoolPlan, AnUnmeasuredTaskIsAssumedSlowAndNotMerged) {
  cost_model costs;
  EXPECT_FALSE(costs.measured("t"));
  EXPECT_EQ(costs.item_ns("t"), cost_model::unmeasured_item_ns);
  EXPECT_EQ(window(costs, "t", 0, 2), 2u);
}

TEST(PoolPlan, TinyTasksGetAWideWindowAndLargeMerges) {
  auto costs = measured("tiny", 1'000, 100'000);
  EXPECT_TRUE(costs.measured("tiny"));
  EXPECT_GE(window(costs, "tiny", 100, 2), 32u);
  EXPECT_EQ(merge_limit(costs, "tiny"), 512u);
  auto other = measured("slow", 1'000'000, 100'000);
  EXPECT_EQ(merge_limit(other, "slow"), 2u);
}

TEST(PoolPlan, ALongTaskQueuesOneBatchBehindTheRunningOneOnlyWhileMuchWaits) {
  auto costs = measured("long", 100'000'000, 100'000);
  EXPECT_EQ(window(costs, "long", 10, 2), 2u);
  EXPECT_EQ(window(costs, "long", 3, 2), 1u);
}

TEST(PoolPlan, TheWorkerSaysOnlyWhatTheHeadSawAndALaterSampleMovesTheAverage) {
  cost_model costs;
  costs.learn("t", 10, 1e12, 1'000'000, false);  // claims far more than the round trip took
  EXPECT_DOUBLE_EQ(costs.item_ns("t"), 100'000);
  costs.learn("t", 10, 0, 1'000'000, true);
  EXPECT_DOUBLE_EQ(costs.item_ns("t"), 80'000);
}

TEST(PoolPlan, TheLeastLoadedWorkerUnderItsWindowTakesTheBatch) {
  std::vector<worker_load> ws{{1, 3, false}, {2, 1, false}, {3, 0, true}};
  EXPECT_EQ(pick_worker(ws, false, 4), 2u);
  EXPECT_EQ(pick_worker(ws, false, 1), std::nullopt);
  EXPECT_EQ(pick_worker({}, false, 4), std::nullopt);
}

TEST(PoolPlan, ASuspectBatchWaitsForAnIdleWorker) {
  std::vector<worker_load> busy{{1, 1, false}, {2, 2, false}};
  EXPECT_EQ(pick_worker(busy, true, 8), std::nullopt);
  busy.push_back({7, 0, false});
  EXPECT_EQ(pick_worker(busy, true, 8), 7u);
}

TEST(PoolPlan, ADeadlineCoversEveryItemAndNeverOverflows) {
  auto since = clock::now();
  EXPECT_EQ(deadline(0ms, 10, since), std::nullopt);
  EXPECT_EQ(deadline(std::chrono::duration_cast<std::chrono::milliseconds>(
                         troupe::detail::unbounded_wait),
                     1, since),
            std::nullopt);
  EXPECT_EQ(deadline(std::chrono::hours{24 * 365}, 1'000'000, since), std::nullopt);
  auto d = deadline(100ms, 5, since);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(*d - since), 1500ms);
}

TEST(PoolPlan, AnIdleWorkerTakesTheLastBatchWaitingBehindAnOverdueOne) {
  auto costs = measured("t", 1'000'000, 100'000);
  auto now = clock::now();
  std::vector<busy_worker> busy{
      {.id = 1, .running_task = "t", .running_items = 1, .running_since = now - 1s, .batches = 2},
      {.id = 2, .running_task = "t", .running_items = 1, .running_since = now, .batches = 2},
      {.id = 3, .running_task = "t", .running_items = 1, .running_since = now - 1s, .batches = 1},
      {.id = 4,
       .running_task = "t",
       .running_items = 1,
       .running_since = now - 1s,
       .batches = 3,
       .last_revoking = true},
      {.id = 5, .running_task = "t", .running_items = 1, .running_since = now - 1s, .batches = 3},
  };
  EXPECT_EQ(revocations(costs, busy, 2, 0, now), (std::vector<uint64_t>{1, 5}));
  EXPECT_EQ(revocations(costs, busy, 1, 0, now), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(revocations(costs, busy, 0, 0, now).empty());
  EXPECT_TRUE(revocations(costs, busy, 2, 1, now).empty()) << "queued work goes first";
}

}  // namespace
