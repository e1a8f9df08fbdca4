// The command line of every troupe program, with real processes: a bad value is a usage error
// (exit status 2, a message naming the flag) rather than a wrapped number, a hang or a runaway;
// every flag has its TROUPE_<FLAG> environment name, shown by --help; an exception escaping the
// program's main is one line and an exit status; and worker processes a head starts ignore the
// TROUPE_* environment they inherit (they get their settings as arguments).
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <caf/scoped_actor.hpp>

#include "head_fixture.hpp"
#include "subprocess.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace {

using namespace std::chrono_literals;

// Runs the test program as a head with `args` (and `env` as VAR=value), to its end.
troupe::test::subprocess run_head(const std::vector<std::string>& args,
                                  const std::vector<std::string>& env = {}) {
  return troupe::test::start_test_head(args, env);
}

void expect_usage_error(const std::vector<std::string>& args, const std::string& flag,
                        const std::vector<std::string>& env = {}) {
  auto head = run_head(args, env);
  auto status = head.wait(30s);
  ASSERT_TRUE(status.has_value()) << "accepted " << testing::PrintToString(args) << " "
                                  << testing::PrintToString(env) << ": " << head.output;
  EXPECT_EQ(*status, 2) << head.output;
  // The error is the last line (the usage before it names every flag).
  auto text = head.output.substr(0, head.output.find_last_not_of('\n') + 1);
  auto error = text.substr(text.rfind('\n') + 1);
  EXPECT_EQ(error.rfind("error: ", 0), 0u) << head.output;
  EXPECT_NE(error.find(flag), std::string::npos)
      << "the message does not name " << flag << ": " << head.output;
}

TEST(Flags, OutOfRangeValuesAreUsageErrorsNamingTheFlag) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"--workers", "-3"},  // once wrapped to 2^64 - 3 and started processes without limit
      {"--workers", "100000"},
      {"--workers", "zzz"},
      {"--max-frame-size", "10"},  // once hung: not even a handshake fits
      {"--max-frame-size", "8589934592"},
      {"--join-timeout", "0"},
      {"--join-timeout", "-1"},
      {"--heartbeat-interval-ms", "0"},
      {"--heartbeat-timeout-ms", "-5"},
      {"--heartbeat-timeout-ms", "99999999999"},
      {"--listen", "127.0.0.1:65536"},
      {"--listen", "127.0.0.1"},
      {"--join", "127.0.0.1:0"},
      {"--join", "127.0.0.1:-1"},
      {"--dashboard", "[::1:0"},  // once refused as "not loopback" instead of malformed
      {"--dashboard", "::1:0"},   // IPv6 without brackets: where the port starts is a guess
      {"--listen", "[::1]x:0"},
  };
  for (const auto& [flag, value] : bad) {
    SCOPED_TRACE(flag + " " + value);
    expect_usage_error({flag, value}, flag);
    expect_usage_error({flag + "=" + value}, flag);
  }
}

// The message names the flag and the variable the value came from: the user typed neither.
TEST(Flags, BadValuesFromTheEnvironmentAreUsageErrorsNamingTheVariable) {
  const std::vector<std::array<std::string, 3>> bad = {
      {"--max-frame-size", "TROUPE_MAX_FRAME_SIZE", "10"},
      {"--heartbeat-interval-ms", "TROUPE_HEARTBEAT_INTERVAL_MS", "-1"},
      {"--heartbeat-timeout-ms", "TROUPE_HEARTBEAT_TIMEOUT_MS", "zzz"},
      {"--workers", "TROUPE_WORKERS", "zzz"},
  };
  for (const auto& [flag, var, value] : bad) {
    SCOPED_TRACE(var + "=" + value);
    expect_usage_error({}, flag + ": ", {var + "=" + value});
    expect_usage_error({}, "(from " + var + " in the environment)", {var + "=" + value});
  }
  // Typed on the command line, the bad value is the flag's own: no variable is blamed.
  auto head = run_head({"--workers", "zzz"}, {"TROUPE_WORKERS=2"});
  ASSERT_TRUE(head.wait(30s).has_value()) << head.output;
  EXPECT_EQ(head.output.find("TROUPE_WORKERS in the environment"), std::string::npos)
      << head.output;
}

TEST(Flags, AHeartbeatIntervalNotBelowTheTimeoutIsRefused) {
  auto head = run_head(
      {"--workers", "0", "--heartbeat-interval-ms", "3000", "--heartbeat-timeout-ms", "3000"});
  auto status = head.wait(30s);
  ASSERT_TRUE(status.has_value()) << "accepted: " << head.output;
  EXPECT_EQ(*status, 2) << head.output;
  EXPECT_NE(head.output.find("--heartbeat-interval-ms (3000) must be less than "
                             "--heartbeat-timeout-ms (3000)"),
            std::string::npos)
      << head.output;
}

TEST(Flags, HelpShowsEveryFlagWithItsEnvironmentName) {
  auto help = run_head({"--help"});
  auto status = help.wait(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << help.output;
  const std::vector<std::pair<std::string, std::string>> flags = {
      {"--log-level", "TROUPE_LOG_LEVEL"},
      {"--name", "TROUPE_NAME"},
      {"--workers", "TROUPE_WORKERS"},
      {"--listen", "TROUPE_LISTEN"},
      {"--join", "TROUPE_JOIN"},
      {"--join-timeout", "TROUPE_JOIN_TIMEOUT"},
      {"--secret-file", "TROUPE_SECRET_FILE"},
      {"--insecure-loopback", "TROUPE_INSECURE_LOOPBACK"},
      {"--tls-ca", "TROUPE_TLS_CA"},
      {"--tls-cert", "TROUPE_TLS_CERT"},
      {"--tls-key", "TROUPE_TLS_KEY"},
      {"--heartbeat-interval-ms", "TROUPE_HEARTBEAT_INTERVAL_MS"},
      {"--heartbeat-timeout-ms", "TROUPE_HEARTBEAT_TIMEOUT_MS"},
      {"--max-frame-size", "TROUPE_MAX_FRAME_SIZE"},
  };
  for (const auto& [flag, env] : flags) {
    // The flag's entry in the help, up to the next flag's: its name, its environment name and
    // a description (on the same line or the next).
    auto at = help.output.find("  " + flag + " ");
    if (at == std::string::npos)
      at = help.output.find("," + flag + " ");
    ASSERT_NE(at, std::string::npos) << flag << " is not in the help: " << help.output;
    auto entry = help.output.substr(at, help.output.find("\n  -", at) - at);
    auto env_at = entry.find("(Env:" + env + ")");
    ASSERT_NE(env_at, std::string::npos) << flag << " does not show " << env << ": " << entry;
    auto description = entry.substr(env_at + env.size() + 6);
    EXPECT_TRUE(std::any_of(description.begin(), description.end(),
                            [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }))
        << flag << " has no help text: " << entry;
  }
}

TEST(Flags, AnExceptionFromTheProgramIsAnErrorLineNotACrash) {
  // A pool with neither worker processes nor a listening socket could never get a worker: its
  // constructor throws std::invalid_argument, which the program did not catch.
  auto head = run_head({"--workers", "0", "--pool-wait-for", "1"});
  auto status = head.wait(30s);
  ASSERT_TRUE(status.has_value()) << head.output;
  EXPECT_EQ(*status, 2) << head.output;
  EXPECT_NE(head.output.find("error: a process pool with no worker processes"), std::string::npos)
      << head.output;
}

// Sets environment variables for one test, inherited by the processes it starts.
class scoped_environment {
public:
  explicit scoped_environment(std::vector<std::pair<std::string, std::string>> vars)
      : vars_(std::move(vars)) {
    for (auto& [name, value] : vars_)
      setenv(name.c_str(), value.c_str(), 1);
  }
  ~scoped_environment() {
    for (auto& [name, value] : vars_)
      unsetenv(name.c_str());
  }

private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

struct WorkerEnvironment : troupe::test::head_fixture {
  WorkerEnvironment() : head_fixture(3000ms) {}
};

TEST_F(WorkerEnvironment, WorkerProcessesIgnoreTheTroupeEnvironmentOfTheirHead) {
  // Each would turn a worker process into something else, or keep it from starting.
  scoped_environment env{{{"TROUPE_JOIN", "127.0.0.1:1"},
                          {"TROUPE_LISTEN", "0.0.0.0:0"},
                          {"TROUPE_WORKERS", "zzz"},
                          {"TROUPE_MAX_FRAME_SIZE", "10"},
                          {"TROUPE_HEARTBEAT_TIMEOUT_MS", "1"},
                          {"TROUPE_LOG_LEVEL", "nonsense"}}};
  for (int i = 0; i < 2; ++i) {
    auto worker = head.start_worker(20s);
    ASSERT_TRUE(worker) << troupe::describe(worker.error());
    EXPECT_TRUE(worker->child);
    auto echo = head.spawn_on(*worker, "echo");
    ASSERT_TRUE(echo) << troupe::describe(echo.error());
    caf::scoped_actor self{sys};
    troupe::test::Ping ping;
    ping.set_value(21);
    int64_t got = 0;
    self->request(*echo, 10s, ping)
        .receive([&](const troupe::test::Pong& pong) { got = pong.value(); },
                 [](caf::error& err) { ADD_FAILURE() << troupe::describe(err); });
    EXPECT_EQ(got, 42);
  }
  EXPECT_EQ(worker_pids().size(), 2u);
}

}  // namespace
