// One thread that runs the done-callbacks of a process pool's futures (internal). User code then
// never runs on the pool's dispatcher: a callback may block, wait for another future, or call
// the pool (terminate, join) without freezing dispatch.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "troupe/actors/future.hpp"

namespace troupe::detail {

class callback_thread : public std::enable_shared_from_this<callback_thread> {
public:
  static std::shared_ptr<callback_thread> start();

  ~callback_thread();

  /// Queues work for the thread; once the thread has stopped, runs it in the caller's thread.
  callback_executor executor();

  /// Runs what is queued, then ends the thread. Called from the thread itself (a callback that
  /// destroys its pool), the thread ends after that callback instead.
  void stop();

private:
  callback_thread() = default;
  bool post(std::function<void()>& work);
  void loop();

  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace troupe::detail
