// A submission to the process pool as its dispatcher sees it (not API: installed because the
// pool's public templates build jobs; nodes/pool/dispatcher.hpp tells what happens to them).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include "troupe/messages/task_registry.hpp"

namespace troupe::detail {

/// What a batch of one submission came back with (on the dispatcher's thread).
struct job_result {
  std::string results;  // Items: one record per argument
  std::vector<task_failure> failures;
  caf::error error;  // the whole submission failed (worker_lost, unknown_task, ...)
};

struct job {
  std::string task;
  std::string args;  // Items: one record per argument
  uint32_t count = 0;
  uint32_t first_index = 0;               // position of the first argument in its map, for messages
  std::chrono::milliseconds timeout{-1};  // per item; negative: the pool's task_timeout
  unsigned kills = 0;
  bool suspect = false;    // was in flight on a dead worker: runs alone from now on
  bool mergeable = false;  // may share a batch with other submissions (apply_async)
  std::function<void(job_result&&)> done;
  /// Called once when the dispatcher first sends the job (its future is running() from then):
  /// on the dispatcher's thread, so it only marks state, never runs user code.
  std::function<void()> on_start;
  /// Whether one result record parses as the task's result type: a worker's reply is checked
  /// with it before anything of it is used.
  bool (*check)(std::string_view record) = nullptr;
  caf::error last_failure;  // why it last had to run again

  // queued -> sent (by the dispatcher), or queued -> cancelled (by future::cancel, any thread).
  enum phase_t : int { queued, sent, cancelled };
  std::atomic<int> phase{queued};
  bool cancel() {
    int expected = queued;
    return phase.compare_exchange_strong(expected, cancelled);
  }
  /// The dispatcher takes the job; false if it was cancelled. A job sent before stays sent.
  bool claim() {
    int expected = queued;
    if (phase.compare_exchange_strong(expected, sent)) {
      if (on_start)
        on_start();
      return true;
    }
    return expected == sent;
  }
};

using job_ptr = std::shared_ptr<job>;

/// A future's canceller for a job: withdraws it while it waits in the pool's queue.
inline std::function<bool()> canceller_for(const job_ptr& j) {
  return [weak = std::weak_ptr<job>{j}] {
    auto j = weak.lock();
    return j && j->cancel();
  };
}

}  // namespace troupe::detail
