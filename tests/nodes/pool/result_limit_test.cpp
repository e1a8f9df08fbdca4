// A worker's reply cut to its head's frame limit (nodes/pool/result_limit.hpp), without
// processes: the largest results fail as their own items, the rest are kept unchanged.
#include "troupe/nodes/pool/result_limit.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "troupe/messages/items.hpp"

namespace {

constexpr size_t limit = 64 * 1024;

troupe::pool::ResultBatch reply_of(const std::vector<size_t>& sizes) {
  troupe::pool::ResultBatch reply;
  reply.set_batch_id(7);
  for (auto n : sizes)
    troupe::items::append_value(*reply.mutable_results(), std::string(n, 'r'));
  return reply;
}

std::vector<std::string> values_of(const troupe::pool::ResultBatch& reply) {
  std::vector<std::string> out;
  EXPECT_TRUE(troupe::items::read_items(reply.results(), [&](std::string_view record) {
    std::string value;
    if (!record.empty()) {
      EXPECT_TRUE(troupe::decode(record, value));
    }
    out.push_back(value);
    return true;
  }));
  return out;
}

TEST(ResultLimit, AReplyThatFitsIsLeftAsItIs) {
  auto reply = reply_of({10, 20, limit / 2});
  auto before = reply.SerializeAsString();
  troupe::detail::fit_reply(reply, limit);
  EXPECT_EQ(reply.SerializeAsString(), before);
  troupe::detail::fit_reply(reply, 0);  // no limit
  EXPECT_EQ(reply.SerializeAsString(), before);
}

TEST(ResultLimit, TheLargestResultsFailUntilTheReplyFits) {
  auto reply = reply_of({10, limit, 20, limit / 2, limit / 2 + 100});
  troupe::detail::fit_reply(reply, limit);
  EXPECT_LE(reply.ByteSizeLong(), limit);
  auto values = values_of(reply);
  ASSERT_EQ(values.size(), 5u) << "every item keeps its slot";
  EXPECT_EQ(values[0], std::string(10, 'r'));
  EXPECT_EQ(values[1], "");
  EXPECT_EQ(values[2], std::string(20, 'r'));
  EXPECT_EQ(values[3], std::string(limit / 2, 'r'));
  EXPECT_EQ(values[4], "");
  ASSERT_EQ(reply.failures_size(), 2);
  for (auto& f : reply.failures()) {
    EXPECT_TRUE(f.too_large());
    EXPECT_TRUE(f.index() == 1 || f.index() == 4) << f.index();
    EXPECT_NE(f.message().find(std::to_string(limit)), std::string::npos) << f.message();
  }
}

}  // namespace
