// peer_common.hpp: the little every peer program shares: its command line (--quick, --only
// METRIC), the JSON-lines output the suite driver parses, failure reporting and medians.
// Header-only and CAF-free so that peer_socketpair can use it too.

#pragma once

#include <dirent.h>
#include <linux/tcp.h>  // the kernel's tcp_info has tcpi_bytes_acked; glibc's copy lacks it
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace peers {

struct options {
  bool quick = false;
  std::string only;               // empty: every metric
  std::vector<std::string> rest;  // arguments a program handles itself (e.g. an internal role)
};

[[noreturn]] inline void usage(const char* argv0, const std::vector<std::string>& metrics) {
  std::fprintf(stderr, "usage: %s [--quick] [--only METRIC]\nmetrics:", argv0);
  for (auto& m : metrics)
    std::fprintf(stderr, " %s", m.c_str());
  std::fprintf(stderr, "\n");
  std::exit(2);
}

// `metrics` are the names --only accepts; a typo must not pass as "nothing to measure".
// `internal` lists flags (each taking one value) a program uses for its own child processes.
inline options parse_args(int argc, char** argv, const std::vector<std::string>& metrics,
                          const std::vector<std::string>& internal = {}) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool is_internal = std::find(internal.begin(), internal.end(), arg) != internal.end();
    if (arg == "--quick") {
      opt.quick = true;
    } else if (arg == "--only" && i + 1 < argc) {
      opt.only = argv[++i];
    } else if (is_internal && i + 1 < argc) {
      opt.rest.push_back(arg);
      opt.rest.push_back(argv[++i]);
    } else {
      usage(argv[0], metrics);
    }
  }
  if (!opt.only.empty() && std::find(metrics.begin(), metrics.end(), opt.only) == metrics.end())
    usage(argv[0], metrics);
  return opt;
}

inline bool wanted(const options& opt, const char* metric) {
  return opt.only.empty() || opt.only == metric;
}

// Only these lines may reach stdout: the driver parses every stdout line as one JSON object.
inline void emit(const options& opt, const char* metric, const char* impl, double value,
                 const char* unit) {
  if (!wanted(opt, metric))
    return;
  std::printf("{\"metric\": \"%s\", \"impl\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", metric,
              impl, value, unit);
  std::fflush(stdout);
}

// Runs before a failing program exits, e.g. to kill a child process.
inline void (*on_fail)() = nullptr;

// Exits without running static destructors: a CAF program may fail while scheduler threads
// still use them, and a forked child must not flush the parent's stdio buffers.
[[noreturn]] inline void fail(const char* program, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program, what.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  if (on_fail != nullptr)
    on_fail();
  std::_Exit(1);
}

// For syscall failures: appends strerror(errno).
[[noreturn]] inline void fail_errno(const char* program, const std::string& what) {
  fail(program, what + ": " + std::strerror(errno));
}

// Turns any hang into a failure with a message instead of a stuck driver: after `limit`, runs
// on_fail (e.g. kills a child process) and exits.
inline void start_watchdog(const char* program, std::chrono::seconds limit) {
  std::thread([program, limit] {
    std::this_thread::sleep_for(limit);
    fail(program, "run exceeded its time limit");
  }).detach();
}

// Payload bytes this process sent and had acknowledged over all its TCP sockets (the kernel's
// per-socket tcpi_bytes_acked; no TCP/IP headers). Other fds fail getsockopt and are skipped.
// Every program that reports wire bytes per message counts them this way.
inline uint64_t tcp_bytes_acked_total(const char* program) {
  uint64_t total = 0;
  auto dir = ::opendir("/proc/self/fd");
  if (dir == nullptr)
    fail_errno(program, "opendir /proc/self/fd");
  while (auto entry = ::readdir(dir)) {
    auto fd = std::atoi(entry->d_name);
    if (entry->d_name[0] == '.' || fd == ::dirfd(dir))
      continue;
    tcp_info info{};
    socklen_t len = sizeof(info);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0
        && len >= offsetof(tcp_info, tcpi_bytes_acked) + sizeof(info.tcpi_bytes_acked))
      total += info.tcpi_bytes_acked;
  }
  ::closedir(dir);
  return total;
}

inline double median(std::vector<double> samples) {
  if (samples.empty())
    return 0.0;
  auto mid = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), mid, samples.end());
  return *mid;
}

}  // namespace peers
