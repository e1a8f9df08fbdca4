// A program's own flags (troupe::flags, program::options) with real processes: checked like
// troupe's (a negative number for an unsigned flag, a value out of its range or a word for a
// number is a usage error naming the flag), read from TROUPE_<FLAG> too, shown by --help.
// The test program's own flag is --pool-wait-for N (tests/nodes/test_program.cpp).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "subprocess.hpp"

namespace {

using namespace std::chrono_literals;

troupe::test::subprocess run_head(const std::vector<std::string>& args,
                                  const std::vector<std::string>& env = {}) {
  return troupe::test::start_test_head(args, env);
}

std::string last_line(const std::string& output) {
  auto text = output.substr(0, output.find_last_not_of('\n') + 1);
  return text.substr(text.rfind('\n') + 1);
}

TEST(ProgramFlags, BadValuesAreUsageErrorsNamingTheFlag) {
  for (const auto& value : {"-1", "abc", "1x"}) {
    auto head = run_head({"--pool-wait-for", value});
    auto status = head.wait(30s);
    ASSERT_TRUE(status.has_value()) << value << ": " << head.output;
    EXPECT_EQ(*status, 2) << value << ": " << head.output;
    auto error = last_line(head.output);
    EXPECT_EQ(error.rfind("error: --pool-wait-for", 0), 0u) << value << ": " << head.output;
  }
}

TEST(ProgramFlags, ComeFromTheEnvironmentToo) {
  auto head = run_head({}, {"TROUPE_POOL_WAIT_FOR=-5"});
  auto status = head.wait(30s);
  ASSERT_TRUE(status.has_value()) << head.output;
  EXPECT_EQ(*status, 2) << head.output;
  EXPECT_NE(last_line(head.output).find("--pool-wait-for"), std::string::npos) << head.output;
}

TEST(ProgramFlags, HelpShowsThemWithTheirEnvironmentName) {
  auto head = run_head({"--help"});
  auto status = head.wait(30s);
  ASSERT_TRUE(status.has_value()) << head.output;
  EXPECT_EQ(*status, 0) << head.output;
  EXPECT_NE(head.output.find("--pool-wait-for"), std::string::npos) << head.output;
  EXPECT_NE(head.output.find("TROUPE_POOL_WAIT_FOR"), std::string::npos) << head.output;
}

}  // namespace
