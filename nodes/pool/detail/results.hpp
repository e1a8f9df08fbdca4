// The head's side of the process pool's values (not API: installed because the pool's public
// templates need it): cutting a map's inputs into chunks of jobs, and turning what a job came
// back with into typed results or errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "troupe/actors/future.hpp"
#include "troupe/messages/errc.hpp"
#include "troupe/messages/items.hpp"
#include "troupe/nodes/pool/detail/call.hpp"
#include "troupe/nodes/pool/detail/job.hpp"

namespace troupe::detail {

template <class R>
bool parses_as(std::string_view record) {
  return pool_codec::result_parses<R>(record);
}

template <class R>
R decode_one(std::string_view record) {
  return pool_codec::decode_result<R>(record);
}

/// Fails a future with `err`.
template <class T>
void fail_future(future_state<T>& state, caf::error err) {
  state.set_error(std::move(err));
}

/// The error a failed item becomes; `index` is its position in the whole call.
inline caf::error item_failure(const std::string& task, const task_failure& f, uint32_t index,
                               bool name_item) {
  return make_error(errc::task_failed,
                    "task '" + task + "' raised"
                        + (name_item ? " on item " + std::to_string(index) : std::string{}) + ": "
                        + f.message);
}

/// A map's run of inputs sent as one job; `result` completes when the job comes back.
struct chunk {
  uint32_t first_index = 0;
  uint32_t count = 0;
  future<job_result> result;
  job_ptr job;
};

/// Cuts n inputs into jobs of at most `chunksize` items (and of a size far below the frame
/// limit); encode(args, i) appends input i's record.
template <class R, class Encode>
std::vector<chunk> make_chunks(const std::string& task, size_t n, size_t chunksize,
                               std::chrono::milliseconds timeout, Encode encode) {
  constexpr size_t max_chunk_bytes = 4 * 1024 * 1024;
  std::vector<chunk> chunks;
  size_t i = 0;
  while (i < n) {
    auto j = std::make_shared<job>();
    j->task = task;
    j->first_index = static_cast<uint32_t>(i);
    j->timeout = timeout;
    j->check = parses_as<R>;
    while (i < n && j->count < chunksize && j->args.size() < max_chunk_bytes) {
      encode(j->args, i++);
      ++j->count;
    }
    auto fut = make_pending_future<job_result>();
    j->done = [state = fut.state()](job_result&& r) { state->set_value(std::move(r)); };
    chunks.push_back(chunk{j->first_index, j->count, std::move(fut), j});
  }
  return chunks;
}

/// Calls each(index in the call, record, failure or nullptr) for every item of a finished
/// chunk; throws task_error if the chunk as a whole failed or its results are malformed.
template <class Each>
void for_each_item(const chunk& c, Each each) {
  const auto& r = c.result.state()->value();
  if (r.error)
    throw task_error{r.error};
  std::vector<const task_failure*> failed(c.count, nullptr);
  for (auto& f : r.failures)
    if (f.index < c.count)
      failed[f.index] = &f;
  uint32_t n = 0;
  bool ok = items::read_items(r.results, [&](std::string_view record) {
    if (n >= c.count)
      return false;
    each(c.first_index + n, record, failed[n]);
    ++n;
    return true;
  });
  if (!ok || n != c.count)
    throw task_error{make_error(errc::corrupt_payload, "malformed results from a worker")};
}

/// Appends a finished chunk's results to `out`; throws task_error for its first failed item.
template <class R>
void decode_chunk(const std::string& task, const chunk& c, std::vector<R>& out) {
  const auto& r = c.result.state()->value();
  if (!r.error && !r.failures.empty()) {
    const auto& f = r.failures.front();
    throw task_error{item_failure(task, f, c.first_index + f.index, true)};
  }
  for_each_item(c, [&](uint32_t, std::string_view record, const task_failure*) {
    if constexpr (!std::is_void<R>::value)
      out.push_back(decode_one<R>(record));
  });
}

/// Every item of a finished chunk as a value or its own error: a failed item, or the whole
/// chunk's failure for each of its items, costs no other item.
template <class R>
std::vector<caf::expected<R>> chunk_outcomes(const std::string& task, const chunk& c) {
  std::vector<caf::expected<R>> out;
  out.reserve(c.count);
  try {
    for_each_item(c, [&](uint32_t index, std::string_view record, const task_failure* failed) {
      if (failed) {
        out.emplace_back(item_failure(task, *failed, index, true));
        return;
      }
      try {
        if constexpr (std::is_void<R>::value)
          out.emplace_back();
        else
          out.emplace_back(decode_one<R>(record));
      } catch (const task_error& e) {
        out.emplace_back(e.error());
      }
    });
  } catch (const task_error& e) {
    out.clear();
    out.resize(c.count, caf::expected<R>{e.error()});
  }
  return out;
}

/// What completes a one-item job's future: its value, or why it failed.
template <class R>
std::function<void(job_result&&)> complete_one(std::shared_ptr<future_state<R>> state,
                                               std::string task) {
  return [state = std::move(state), task = std::move(task)](job_result&& r) {
    if (r.error) {
      fail_future(*state, std::move(r.error));
      return;
    }
    if (!r.failures.empty()) {
      fail_future(*state, item_failure(task, r.failures.front(), 0, false));
      return;
    }
    try {
      std::string_view record;
      items::read_items(r.results, [&](std::string_view rec) {
        record = rec;
        return false;
      });
      if constexpr (std::is_void<R>::value)
        state->set_value({});
      else
        state->set_value(decode_one<R>(record));
    } catch (const task_error& e) {
      fail_future(*state, e.error());
    }
  };
}

}  // namespace troupe::detail
