// The lazy results of process_pool::imap and imap_unordered, as Python's IMapIterator:
//
//   for (auto& square : pool.imap(square, inputs)) ...            // input order
//   for (auto& square : pool.imap_unordered(square, inputs)) ...  // as chunks complete
//
// Every chunk is submitted at once; iterating waits only for the next item (imap: the next in
// input order; imap_unordered: any chunk not yet taken), so the first results are used while
// the rest still run. A failed item throws where it is reached, from next(), operator++ or
// begin(): the task's exception as its own type (std::out_of_range, ...), else task_error;
// the other items are not lost (call next() again after catching it).
// next(timeout) throws troupe::timeout_error if nothing is ready in time (the work goes on).
// Dropping the object before the end (a `break` out of the loop) withdraws the chunks still
// queued in the head; chunks already sent to a worker run to their end, and their results are
// dropped. The object may be moved, not copied; one thread iterates it at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "troupe/nodes/pool/detail/results.hpp"

namespace troupe {

template <class R, bool Ordered>
class imap_results {
  static_assert(!std::is_void<R>::value,
                "imap yields results: for a task without a result, use map or map_outcomes");

public:
  explicit imap_results(std::vector<detail::chunk> chunks)
      : chunks_(std::move(chunks)), completed_(std::make_shared<completions>()) {
    if constexpr (!Ordered)
      for (size_t k = 0; k < chunks_.size(); ++k)
        chunks_[k].result.add_done_callback(
            [done = completed_, k](const future<detail::job_result>&) { done->push(k); });
  }

  imap_results(imap_results&&) noexcept = default;
  imap_results& operator=(imap_results&& other) noexcept {
    if (this != &other) {
      withdraw_queued();
      chunks_ = std::exchange(other.chunks_, {});
      completed_ = std::move(other.completed_);
      taken_ = other.taken_;
      buffer_ = std::move(other.buffer_);
    }
    return *this;
  }
  imap_results(const imap_results&) = delete;
  imap_results& operator=(const imap_results&) = delete;

  /// Nobody can take the results of what is still queued: it is withdrawn, not run.
  ~imap_results() {
    withdraw_queued();
  }

  /// The next result, waiting at most `timeout`; nothing after the last one. Throws task_error
  /// for a failed item (the next call goes on after it), timeout_error if none is ready.
  template <class Rep, class Period>
  std::optional<R> next(std::chrono::duration<Rep, Period> timeout) {
    while (buffer_.empty()) {
      if (taken_ == chunks_.size())
        return std::nullopt;
      auto k = next_chunk(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
      ++taken_;
      for (auto& item : detail::chunk_outcomes<R>(chunks_[k]))
        buffer_.push_back(std::move(item));
    }
    auto item = std::move(buffer_.front());
    buffer_.pop_front();
    if (!item)
      throw_error(item.error());
    return std::move(*item);
  }

  std::optional<R> next() {
    return next(detail::unbounded_wait);
  }

  /// How many results there are in all.
  size_t size() const {
    size_t n = 0;
    for (auto& c : chunks_)
      n += c.count;
    return n;
  }

  class iterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    using pointer = R*;
    using reference = R&;

    iterator() = default;
    explicit iterator(imap_results* owner) : owner_(owner) {
      advance();
    }
    R& operator*() {
      return *current_;
    }
    R* operator->() {
      return &*current_;
    }
    iterator& operator++() {
      advance();
      return *this;
    }
    bool operator==(const iterator& other) const {
      return owner_ == other.owner_;
    }

  private:
    void advance() {
      current_.reset();
      if (owner_)
        current_ = owner_->next();
      if (!current_)
        owner_ = nullptr;
    }
    imap_results* owner_ = nullptr;
    std::optional<R> current_;
  };

  iterator begin() {
    return iterator{this};
  }
  iterator end() {
    return iterator{};
  }

private:
  void withdraw_queued() noexcept {
    for (auto& c : chunks_)
      if (c.job)
        c.job->cancel();  // only a job still queued: one sent stays sent
  }

  // Chunks in the order they completed (imap_unordered), filled by their futures' callbacks.
  struct completions {
    std::mutex mtx;
    std::condition_variable cv;
    std::deque<size_t> done;
    void push(size_t k) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        done.push_back(k);
      }
      cv.notify_one();
    }
  };

  size_t next_chunk(std::chrono::nanoseconds timeout) {
    auto late = [] { return timeout_error{"no result was ready in time"}; };
    if constexpr (Ordered) {
      if (!chunks_[taken_].result.wait_for(timeout))
        throw late();
      return taken_;
    } else {
      std::unique_lock<std::mutex> guard{completed_->mtx};
      auto ready = [this] { return !completed_->done.empty(); };
      if (detail::is_unbounded(timeout))
        completed_->cv.wait(guard, ready);
      else if (!completed_->cv.wait_for(guard, timeout, ready))
        throw late();
      auto k = completed_->done.front();
      completed_->done.pop_front();
      return k;
    }
  }

  std::vector<detail::chunk> chunks_;
  std::shared_ptr<completions> completed_;
  size_t taken_ = 0;
  std::deque<caf::expected<R>> buffer_;
};

/// What process_pool::imap returns: results in input order.
template <class R>
using imap_iterable = imap_results<R, true>;

/// What process_pool::imap_unordered returns: results as their chunks complete.
template <class R>
using imap_unordered_iterable = imap_results<R, false>;

}  // namespace troupe
