// troupe::as_completed(futures, timeout): iterate over futures in the order they complete, as
// concurrent.futures.as_completed. Part of the future API (future.hpp includes it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "troupe/actors/future.hpp"

namespace troupe {

/// Iterates over futures in the order they complete, like concurrent.futures.as_completed.
/// Each step blocks until the next future is done. Iterating yields references into the vector
/// passed in (a named vector must outlive the iteration; a temporary one is kept inside).
///
///   for (auto& f : troupe::as_completed(futures)) use(f.result());
template <class T>
class as_completed {
public:
  explicit as_completed(const std::vector<future<T>>& futures)
      : as_completed(futures, detail::unbounded_wait) {}
  explicit as_completed(std::vector<future<T>>&& futures)
      : as_completed(std::move(futures), detail::unbounded_wait) {}

  /// Each step throws timeout_error once `timeout` has passed since this call (Python's rule).
  template <class Rep, class Period>
  as_completed(const std::vector<future<T>>& futures, std::chrono::duration<Rep, Period> timeout)
      : futures_(&futures), queue_(std::make_shared<completion_queue>()) {
    watch(timeout);
  }
  template <class Rep, class Period>
  as_completed(std::vector<future<T>>&& futures, std::chrono::duration<Rep, Period> timeout)
      : owned_(std::move(futures)),
        futures_(&owned_),
        queue_(std::make_shared<completion_queue>()) {
    watch(timeout);
  }

  as_completed(const as_completed&) = delete;
  as_completed& operator=(const as_completed&) = delete;

  class iterator {
  public:
    iterator(as_completed* owner, size_t taken) : owner_(owner), taken_(taken) {
      fetch();
    }
    const future<T>& operator*() const {
      return (*owner_->futures_)[current_];
    }
    const future<T>* operator->() const {
      return &**this;
    }
    iterator& operator++() {
      ++taken_;
      fetch();
      return *this;
    }
    bool operator!=(const iterator& other) const {
      return taken_ != other.taken_;
    }

  private:
    void fetch() {
      if (owner_ && taken_ < owner_->futures_->size())
        current_ = owner_->queue_->pop();
    }
    as_completed* owner_;
    size_t taken_;
    size_t current_ = 0;
  };

  iterator begin() {
    return iterator{this, 0};
  }
  iterator end() {
    return iterator{nullptr, futures_->size()};
  }

private:
  struct completion_queue {
    std::mutex mtx;
    std::condition_variable cv;
    std::vector<size_t> ready;
    size_t next = 0;
    std::optional<std::chrono::steady_clock::time_point> deadline;  // none: no limit
    void push(size_t i) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        ready.push_back(i);
      }
      cv.notify_one();
    }
    size_t pop() {
      std::unique_lock<std::mutex> guard{mtx};
      auto ready_now = [this] { return next < ready.size(); };
      if (!deadline)
        cv.wait(guard, ready_now);
      else if (!cv.wait_until(guard, *deadline, ready_now))
        throw timeout_error{"as_completed: not every future was done in time"};
      return ready[next++];
    }
  };

  template <class Rep, class Period>
  void watch(std::chrono::duration<Rep, Period> timeout) {
    if (!detail::is_unbounded(timeout))
      queue_->deadline = std::chrono::steady_clock::now()
                         + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
    for (size_t i = 0; i < futures_->size(); ++i)
      (*futures_)[i].add_done_callback([q = queue_, i](const future<T>&) { q->push(i); });
  }

  std::vector<future<T>> owned_;  // a temporary vector passed in
  const std::vector<future<T>>* futures_;
  std::shared_ptr<completion_queue> queue_;
};

}  // namespace troupe
