// A worker's reply cut back into the submissions its batch merged (nodes/pool/reply.hpp),
// without processes: each job gets its own run of records and its own failures, and a reply
// that does not match the batch is refused whole.
#include "troupe/nodes/pool/reply.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "troupe/messages/detail/task_call.hpp"
#include "troupe/messages/items.hpp"

namespace {

using troupe::detail::job_ptr;

job_ptr job_of(uint32_t count) {
  auto j = std::make_shared<troupe::detail::job>();
  j->task = "square";
  j->count = count;
  j->check = troupe::detail::result_parses<int64_t>;
  return j;
}

troupe::pool::ResultBatch reply_of(const std::vector<int64_t>& values) {
  troupe::pool::ResultBatch reply;
  for (auto v : values)
    troupe::items::append(*reply.mutable_results(), v);
  return reply;
}

std::vector<int64_t> values_of(const std::string& results) {
  std::vector<int64_t> out;
  EXPECT_TRUE(troupe::items::read_items(results, [&](std::string_view record) {
    int64_t v = 0;
    EXPECT_TRUE(troupe::decode(record, v));
    out.push_back(v);
    return true;
  }));
  return out;
}

TEST(PoolReply, AMergedReplyGivesEachJobItsOwnRunAndFailures) {
  auto reply = reply_of({1, 4, 9, 16, 25, 36});
  auto* failed = reply.add_failures();
  failed->set_index(4);  // the second item of the third job
  failed->set_message("boom");
  std::vector<job_ptr> jobs = {job_of(1), job_of(0), job_of(2), job_of(3)};
  auto split = troupe::detail::split_reply(reply, jobs, 6);
  ASSERT_TRUE(split);
  ASSERT_EQ(split->size(), 4u);
  EXPECT_EQ(values_of((*split)[0].results), (std::vector<int64_t>{1}));
  EXPECT_TRUE((*split)[1].results.empty());  // a job of no items
  EXPECT_EQ(values_of((*split)[2].results), (std::vector<int64_t>{4, 9}));
  EXPECT_EQ(values_of((*split)[3].results), (std::vector<int64_t>{16, 25, 36}));
  EXPECT_TRUE((*split)[2].failures.empty());
  ASSERT_EQ((*split)[3].failures.size(), 1u);
  EXPECT_EQ((*split)[3].failures[0].index, 1u);
  EXPECT_EQ((*split)[3].failures[0].message, "boom");
}

TEST(PoolReply, AOneJobReplyHandsOverItsResultsWhole) {
  auto reply = reply_of({0, 1, 4});
  auto expected = reply.results();
  auto split = troupe::detail::split_reply(reply, {job_of(3)}, 3);
  ASSERT_TRUE(split);
  EXPECT_EQ((*split)[0].results, expected);
}

TEST(PoolReply, AReplyThatDoesNotMatchItsBatchIsRefused) {
  std::vector<job_ptr> jobs = {job_of(2), job_of(1)};
  auto too_few = reply_of({1, 4});
  EXPECT_FALSE(troupe::detail::split_reply(too_few, jobs, 3));
  auto too_many = reply_of({1, 4, 9, 16});
  EXPECT_FALSE(troupe::detail::split_reply(too_many, jobs, 3));
  auto failure_outside = reply_of({1, 4, 9});
  failure_outside.add_failures()->set_index(3);
  EXPECT_FALSE(troupe::detail::split_reply(failure_outside, jobs, 3));
  auto not_a_result = reply_of({1, 4});
  troupe::items::append(*not_a_result.mutable_results(), std::string{"\xff\xff\xff"});
  EXPECT_FALSE(troupe::detail::split_reply(not_a_result, jobs, 3));
  auto truncated = reply_of({1, 4, 9});
  truncated.mutable_results()->pop_back();
  EXPECT_FALSE(troupe::detail::split_reply(truncated, jobs, 3));
}

}  // namespace
