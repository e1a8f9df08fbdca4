// Every process of the node tests gets a private HOME and XDG_RUNTIME_DIR, inherited by the
// heads and workers the tests start: the cookie that loopback heads and workers share
// (nodes/cookie.hpp) is made there, never in the real user's home.
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace {

class private_home : public testing::Environment {
public:
  void SetUp() override {
    char pattern[] = "/tmp/troupe-test-home-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);  // mode 0700
    dir_ = pattern;
    auto runtime = dir_ + "/run";
    ASSERT_EQ(mkdir(runtime.c_str(), 0700), 0);
    setenv("HOME", dir_.c_str(), 1);
    setenv("XDG_RUNTIME_DIR", runtime.c_str(), 1);
  }

  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

private:
  std::string dir_;
};

[[maybe_unused]] testing::Environment* const home =
    testing::AddGlobalTestEnvironment(new private_home);

}  // namespace
