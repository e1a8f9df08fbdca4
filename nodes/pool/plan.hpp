// The process pool's decisions, apart from the actor that acts on them (internal): how costly a
// task is, how many batches a worker may hold, how much to merge, which worker takes the next
// batch, when a silent batch is overdue, and which waiting batch an idle worker takes over. No
// CAF here: these are plain functions of the dispatcher's books, unit-tested on their own
// (tests/nodes/pool/plan_test.cpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace troupe::pool_plan {

using clock = std::chrono::steady_clock;

/// Measured costs (exponentially weighted): the execution time of one item, per task (a map of
/// tiny tasks must not make the next task look tiny), and what the round trip around a batch
/// adds.
class cost_model {
public:
  /// Until measured, a task is assumed slow: small windows and little merging keep the balance.
  static constexpr double unmeasured_item_ns = 200'000;

  double item_ns(const std::string& task) const;
  bool measured(const std::string& task) const;
  double overhead_ns() const {
    return overhead_ns_;
  }

  /// A batch of `items` came back `elapsed_ns` after it was sent; its worker says it spent
  /// `exec_ns` running it (believed only up to what the head saw). A batch that waited behind
  /// another on its worker (`queued`) says nothing of the round trip.
  void learn(const std::string& task, uint32_t items, double exec_ns, double elapsed_ns,
             bool queued);

private:
  std::unordered_map<std::string, double> item_ns_;
  double overhead_ns_ = 200'000;
};

/// How many batches of `task` one worker may hold, given how many submissions are queued and
/// how many workers are ready.
size_t window(const cost_model& costs, const std::string& task, size_t queued, size_t workers);

/// How many items queued submissions of a measured task may merge into one batch.
uint32_t merge_limit(const cost_model& costs, const std::string& task);

/// Merged batches also stop at this many argument bytes.
inline constexpr size_t merge_max_bytes = 1024 * 1024;

/// A worker as the choice of the next batch sees it.
struct worker_load {
  uint64_t id = 0;
  size_t in_flight = 0;
  bool exclusive = false;  // runs a suspect batch: nothing else until it returns
};

/// The least-loaded worker that may take a batch: one under its window, or, for a suspect
/// batch (`alone`), an idle one. Nothing if every worker is full.
std::optional<uint64_t> pick_worker(const std::vector<worker_load>& workers, bool alone,
                                    size_t window);

/// When a batch of `items` with a per-item timeout, running since `since`, should have come
/// back at the latest: an honest worker reports a timed-out item itself; this bound is for
/// workers that say nothing. Nothing without a timeout (or with one too long to mean anything).
std::optional<clock::time_point> deadline(std::chrono::milliseconds item_timeout, uint32_t items,
                                          clock::time_point since);

/// A worker with batches waiting behind the one it runs.
struct busy_worker {
  uint64_t id = 0;
  std::string running_task;  // the task of the batch it runs
  uint32_t running_items = 0;
  clock::time_point running_since;
  size_t batches = 0;          // held, the running one included
  bool last_revoking = false;  // its last batch is being handed back already
};

/// The workers whose last waiting batch should be handed back to run on an idle worker: those
/// whose running batch takes clearly longer than expected, at most one per idle worker, and
/// none while submissions still queue (idle workers then take those).
std::vector<uint64_t> revocations(const cost_model& costs, const std::vector<busy_worker>& busy,
                                  size_t idle_workers, size_t queued, clock::time_point now);

}  // namespace troupe::pool_plan
