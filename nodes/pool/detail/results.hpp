// The head's side of the process pool's values (not API: installed because the pool's public
// templates need it): cutting a call list into chunks of jobs, and turning what a job came back
// with into typed results or errors. A task's exception keeps its type: a failed item's error
// is a task failure (messages/error.hpp) that throw_error rethrows as the standard exception it
// was on the worker.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <caf/expected.hpp>

#include "troupe/actors/future.hpp"
#include "troupe/messages/detail/task_call.hpp"
#include "troupe/messages/errc.hpp"
#include "troupe/messages/error.hpp"
#include "troupe/messages/items.hpp"
#include "troupe/messages/task_traits.hpp"
#include "troupe/nodes/pool/detail/job.hpp"

namespace troupe::detail {

template <class F>
using pool_result_t = typename task_traits<std::decay_t<F>>::result;

template <class T>
struct is_tuple : std::false_type {};
template <class... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};

/// Appends the record of a one-argument call of a task named at registration.
template <class A>
void append_by_name(std::string& out, const A& arg) {
  items::append_with(out, [&](std::string& body) { encode_fields(body, arg); });
}

/// The error a failed item becomes; `index` is its position in the whole call.
inline caf::error item_failure(const std::string& task, const task_failure& f, uint32_t index,
                               bool name_item) {
  auto where =
      "task '" + task + "'" + (name_item ? " (item " + std::to_string(index) + ")" : std::string{});
  if (f.too_large)
    return make_error(errc::message_too_large, where + ": " + f.message);
  if (f.type.empty())
    return make_error(errc::task_failed, where + " failed: " + f.message);
  return make_task_failure(f.type, f.message, where);
}

/// Fails a future with `err`; a task's exception is kept, so that result() rethrows its type.
template <class T>
void fail_future(future_state<T>& state, caf::error err) {
  if (is(err, errc::cancelled)) {  // withdrawn before it started (shutdown's cancel_futures)
    state.set_cancelled(std::move(err));
    return;
  }
  if (!task_failure_of(err)) {
    state.set_error(std::move(err));
    return;
  }
  try {
    throw_error(err);
  } catch (...) {
    state.set_exception(std::current_exception(), std::move(err));
  }
}

/// A map's run of calls sent as one job; `result` completes when the job comes back.
struct chunk {
  uint32_t first_index = 0;
  uint32_t count = 0;
  future<job_result> result;
  job_ptr job;
};

inline const job_result& chunk_result(const chunk& c) {
  return future_access::state(c.result)->value();
}

/// A chunk's arguments stop at about this many bytes, whatever its item count: far below the
/// frame limit, and small enough that a map of tiny tasks keeps several batches in flight per
/// worker (the head encodes the next while workers run the last) and that its buffers come
/// from malloc's free lists instead of fresh pages each time.
inline constexpr size_t max_chunk_bytes = 256 * 1024;

/// Cuts n calls into jobs of at most `chunksize` items (and about max_chunk_bytes);
/// encode(args, i) appends call i's record; cut(chunk) is called with each chunk as soon as it
/// is complete (so that it can run while the next is encoded).
template <class R, class Encode, class Cut>
std::vector<chunk> make_chunks(const std::string& task, size_t n, size_t chunksize,
                               std::chrono::milliseconds timeout, Encode encode, Cut cut) {
  std::vector<chunk> chunks;
  size_t i = 0;
  size_t encoded_bytes = 0;  // over the chunks cut so far: the estimate of the next one's size
  size_t encoded_items = 0;
  std::string carried;  // a record too large to share a chunk: it makes the next one, alone
  while (i < n || !carried.empty()) {
    auto j = std::make_shared<job>();
    j->task = task;
    j->first_index = static_cast<uint32_t>(carried.empty() ? i : i - 1);
    j->timeout = timeout;
    j->check = result_parses<R>;
    if (!carried.empty()) {
      j->args = std::move(carried);
      carried.clear();
      j->count = 1;
    }
    const size_t planned = std::min(chunksize, n - i);
    while (i < n && j->count < chunksize && j->args.size() < max_chunk_bytes) {
      auto before = j->args.size();
      encode(j->args, i++);
      auto record = j->args.size() - before;
      if (j->count > 0 && record >= max_chunk_bytes) {
        // Alone, a call whose arguments no frame can carry fails by itself, not its chunk.
        carried.assign(j->args, before);
        j->args.resize(before);
        break;
      }
      if (++j->count == 1 && planned > 1) {
        // Reserved once from the known count, so that the chunk does not grow by doubling
        // (each step copies it into fresh pages).
        auto per_item =
            encoded_items > 0 ? (encoded_bytes + encoded_items - 1) / encoded_items : record;
        j->args.reserve(std::min(per_item * planned, max_chunk_bytes) + 2 * per_item + 64);
      }
    }
    encoded_bytes += j->args.size();
    encoded_items += j->count;
    auto fut = future_access::make_pending<job_result>();
    j->done = [state = future_access::state(fut)](job_result&& r) {
      state->set_value(std::move(r));
    };
    chunks.push_back(chunk{j->first_index, j->count, std::move(fut), j});
    cut(chunks.back());
  }
  return chunks;
}

/// Why a finished chunk failed: as a whole, or at its first failed item; none if it did not.
inline caf::error chunk_error(const chunk& c) {
  const auto& r = chunk_result(c);
  if (r.error)
    return r.error;
  if (!r.failures.empty()) {
    const auto& f = r.failures.front();
    return item_failure(c.job->task, f, c.first_index + f.index, true);
  }
  return {};
}

/// Calls each(index in the call, record, failure or nullptr) for every item of a finished
/// chunk that did not fail as a whole; throws task_error if its results are malformed.
template <class Each>
void for_each_item(const chunk& c, Each each) {
  const auto& r = chunk_result(c);
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

/// Throws a finished chunk's first failure (throw_error: a task's exception as its own type),
/// or task_error if its results are malformed.
inline void check_chunk(const chunk& c) {
  if (auto err = chunk_error(c))
    throw_error(err);
  for_each_item(c, [](uint32_t, std::string_view record, const task_failure*) {
    decode_result<void>(record);
  });
}

/// Appends a finished chunk's results to `out`; throws as check_chunk.
template <class R>
void decode_chunk(const chunk& c, std::vector<R>& out) {
  if (auto err = chunk_error(c))
    throw_error(err);
  for_each_item(c, [&](uint32_t, std::string_view record, const task_failure*) {
    out.push_back(decode_result<R>(record));
  });
}

/// Every item of a finished chunk as a value or its own error: a failed item, or the whole
/// chunk's failure for each of its items, costs no other item.
template <class R>
std::vector<caf::expected<R>> chunk_outcomes(const chunk& c) {
  std::vector<caf::expected<R>> out;
  out.reserve(c.count);
  if (const auto& whole = chunk_result(c).error) {
    out.resize(c.count, caf::expected<R>{whole});
    return out;
  }
  try {
    for_each_item(c, [&](uint32_t index, std::string_view record, const task_failure* failed) {
      if (failed) {
        out.emplace_back(item_failure(c.job->task, *failed, index, true));
      } else if constexpr (std::is_void_v<R>) {
        out.emplace_back(result_parses<void>(record)
                             ? caf::expected<void>{}
                             : caf::expected<void>{
                                 make_error(errc::corrupt_payload, "malformed result record")});
      } else {
        R value{};
        if (decode(record, value))
          out.emplace_back(std::move(value));
        else
          out.emplace_back(make_error(errc::corrupt_payload,
                                      "the task's result does not parse as " + type_name<R>()));
      }
    });
  } catch (const task_error& e) {
    out.clear();
    out.resize(c.count, caf::expected<R>{e.error()});
  }
  return out;
}

/// What completes a one-call job's future: its value, or why it failed.
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
    std::string_view record;
    items::read_items(r.results, [&](std::string_view rec) {
      record = rec;
      return false;
    });
    try {
      if constexpr (std::is_void_v<R>) {
        decode_result<void>(record);
        state->set_value({});
      } else {
        state->set_value(decode_result<R>(record));
      }
    } catch (const task_error& e) {
      fail_future(*state, e.error());
    }
  };
}

}  // namespace troupe::detail
