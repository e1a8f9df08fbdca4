// Issue 11's "Done means" program, in-tree: a two-argument task, an args tuple with a callback,
// starmap, and a task taking a vector and returning a map, on 2 worker processes.
#include <future>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../head_fixture.hpp"
#include "troupe/nodes/pool/process_pool.hpp"

namespace {

using namespace std::chrono_literals;

std::string formatter(const std::string& a, int64_t b) {
  return a + " " + std::to_string(b);
}

std::map<std::string, int64_t> count_words(const std::vector<std::string>& words) {
  std::map<std::string, int64_t> counts;
  for (auto& w : words)
    ++counts[w];
  return counts;
}

// Throws std::out_of_range for an index past the end.
int64_t element(const std::vector<int64_t>& xs, int64_t i) {
  if (i < 0 || static_cast<size_t>(i) >= xs.size())
    throw std::out_of_range{"no element " + std::to_string(i)};
  return xs[static_cast<size_t>(i)];
}

// A one-argument view of element for map_outcomes and imap: the first element.
int64_t first(const std::vector<int64_t>& xs) {
  return element(xs, 0);
}

troupe::test::setup_step done_means_tasks{[](troupe::config& cfg) {
  cfg.tasks()
      .add("formatter", formatter)
      .add("count_words", count_words)
      .add("done_means.element", element)
      .add("done_means.first", first);
}};

struct PoolDoneMeans : troupe::test::head_fixture {
  PoolDoneMeans() : head_fixture(1500ms) {}
};

TEST_F(PoolDoneMeans, TheIssuesProgramPrintsWhatItsCommentsSay) {
  troupe::process_pool pool{head, {.workers = 2}};
  auto f = pool.submit(formatter, "Hello", 1);
  EXPECT_EQ(f.result(30s), "Hello 1");
  std::promise<std::string> printed;
  auto print = [&](const std::string& s) { printed.set_value(s); };
  pool.apply_async(formatter, std::tuple{"Hello", 2}, print);
  auto got = printed.get_future();
  ASSERT_EQ(got.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(got.get(), "Hello 2");
  auto v =
      pool.starmap(formatter, std::vector<std::tuple<std::string, int64_t>>{{"a", 1}, {"b", 2}});
  EXPECT_EQ(v, (std::vector<std::string>{"a 1", "b 2"}));
  auto m = pool.submit(count_words, std::vector<std::string>{"a", "b", "a"}).result(30s);
  EXPECT_EQ(m, (std::map<std::string, int64_t>{{"a", 2}, {"b", 1}}));
}

TEST_F(PoolDoneMeans, AStandardExceptionKeepsItsTypeAndMessageThroughEveryVerb) {
  troupe::process_pool pool{head, {.workers = 1}};
  std::vector<int64_t> xs{10, 20};
  EXPECT_EQ(pool.submit(element, xs, 1).result(30s), 20);
  EXPECT_THROW(pool.submit(element, xs, 5).result(30s), std::out_of_range);
  EXPECT_THROW(pool.apply(element, xs, 5), std::out_of_range);
  EXPECT_THROW(pool.map(element, std::vector{xs, xs}, std::vector<int64_t>{0, 9}),
               std::out_of_range);
  auto ordered = pool.imap(first, std::vector<std::vector<int64_t>>{xs});
  EXPECT_EQ(ordered.next(30s), 10);
  auto outcomes = pool.starmap(
      element, std::vector<std::tuple<std::vector<int64_t>, int64_t>>{{xs, 0}, {xs, 1}});
  EXPECT_EQ(outcomes, (std::vector<int64_t>{10, 20}));
  auto each = pool.map_outcomes(first, std::vector<std::vector<int64_t>>{{}});
  ASSERT_EQ(each.size(), 1u);
  ASSERT_FALSE(each[0]);
  auto info = troupe::task_failure_of(each[0].error());
  ASSERT_TRUE(info) << troupe::describe(each[0].error());
  EXPECT_EQ(info->type, "std::out_of_range");
  try {
    pool.submit(element, xs, 7).result(30s);
    FAIL() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string{e.what()}.find("7"), std::string::npos) << e.what();
  }
}

}  // namespace
