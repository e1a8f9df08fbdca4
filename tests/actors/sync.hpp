// Coordination for tests that run real threads (thread pool tasks): gates, turnstiles and a
// probe, each wait bounded by `timeout` so that a stuck task fails its test instead of hanging it.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "troupe/actors/thread_pool.hpp"

namespace troupe::test {

inline constexpr std::chrono::seconds timeout{30};

// Holds tasks back until the test opens it.
class gate {
public:
  void open() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      open_ = true;
    }
    cv_.notify_all();
  }
  /// False if the gate stayed closed for the whole timeout.
  bool pass() {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [this] { return open_; });
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Makes concurrent tasks finish in an order chosen by the test: each waits for its turn, then
// passes it on. Records who passed, in order.
class turnstile {
public:
  bool await(size_t turn) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [&] { return passed_.size() == turn; });
  }
  void pass(int who) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      passed_.push_back(who);
    }
    cv_.notify_all();
  }
  std::vector<int> passed() {
    std::lock_guard<std::mutex> guard{mtx_};
    return passed_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<int> passed_;
};

// Counts tasks that are running right now, the peak of that count and how many ever started.
class concurrency_probe {
public:
  void enter() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ++started_;
      peak_ = std::max(peak_, ++running_);
    }
    cv_.notify_all();
  }
  void leave() {
    std::lock_guard<std::mutex> guard{mtx_};
    --running_;
  }
  /// True once `n` tasks have started; waits at most `within`.
  template <class Duration>
  bool started(int n, Duration within) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, within, [&] { return started_ >= n; });
  }
  int peak() {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  int running_ = 0;
  int started_ = 0;
  int peak_ = 0;
};

// shutdown(wait=true) has no timeout of its own. It runs on a helper thread so that a lost task
// ends the test run with a message instead of hanging it (the pool cannot be torn down then).
inline void shutdown_within_timeout(troupe::thread_pool& pool,
                                    troupe::shutdown_options options = {}) {
  auto returned = std::make_shared<std::promise<void>>();
  auto done = returned->get_future();
  std::thread{[&pool, returned, options] {
    pool.shutdown(options);
    returned->set_value();
  }}.detach();
  if (done.wait_for(timeout) != std::future_status::ready) {
    std::fprintf(stderr, "thread_pool::shutdown still blocked after 30s\n");
    std::abort();
  }
}

}  // namespace troupe::test
