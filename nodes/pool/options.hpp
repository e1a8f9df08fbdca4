// The process pool's settings and statistics (see process_pool.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace troupe {

struct pool_options {
  /// Worker processes to start. Default: one per core.
  size_t workers = default_workers();
  /// Also dispatch to nodes that join over TCP.
  bool use_joined_workers = true;
  /// Replace worker processes that die.
  bool respawn = true;
  /// A task in flight on this many worker deaths fails instead of being retried.
  unsigned max_kills = 3;
  /// Longest time one item may run (0, or a century and more: no limit); per call:
  /// task_options::timeout.
  std::chrono::milliseconds task_timeout{0};
  /// A batch running this long is probed: its worker's runner must say, within the same
  /// time, that it still has it (it answers while the task runs), or the worker is dropped and
  /// the batch runs elsewhere. This catches a worker that heartbeats but stopped working.
  std::chrono::milliseconds probe_interval{std::chrono::seconds{5}};
  /// Start-up failures of worker processes in a row after which the pool gives up.
  unsigned max_start_failures = 3;
  /// Work that has had no worker (none ready, none starting) this long fails (0: wait forever).
  std::chrono::milliseconds worker_wait{std::chrono::seconds{60}};

  static size_t default_workers();
};

/// Per-call settings that override the pool's.
struct task_options {
  /// Longest time one item may run; 0 means no limit; unset: pool_options::task_timeout.
  std::optional<std::chrono::milliseconds> timeout;
};

struct pool_stats {
  size_t workers = 0;            // ready now
  uint64_t tasks_completed = 0;  // items with a result (or a task exception)
  uint64_t redispatched = 0;     // items sent again after their worker died
  uint64_t respawned = 0;        // worker processes started to replace dead ones
  uint64_t worker_deaths = 0;    // workers lost while the pool ran
  uint64_t late_results_discarded = 0;
  uint64_t timeouts = 0;  // items that ran past their timeout
  uint64_t revoked = 0;   // queued batches handed back to run on an idle worker
  uint64_t fenced = 0;    // workers dropped for silence or malformed results
  std::map<std::string, uint64_t> items_per_worker;  // by worker node name
};

}  // namespace troupe
