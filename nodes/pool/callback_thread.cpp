#include "troupe/nodes/pool/callback_thread.hpp"

namespace troupe::detail {

std::shared_ptr<callback_thread> callback_thread::start() {
  std::shared_ptr<callback_thread> t{new callback_thread};
  // The thread holds its object until it ends, so that a callback that drops the last other
  // reference (by destroying its pool) does not pull the object from under the loop.
  t->thread_ = std::thread{[t] { t->loop(); }};
  return t;
}

callback_thread::~callback_thread() {
  stop();
}

callback_executor callback_thread::executor() {
  return [weak = weak_from_this()](std::function<void()> work) {
    auto self = weak.lock();
    if (!self || !self->post(work))
      work();
  };
}

bool callback_thread::post(std::function<void()>& work) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return false;
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
  return true;
}

void callback_thread::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_one();
  if (!thread_.joinable())
    return;
  if (thread_.get_id() == std::this_thread::get_id())
    thread_.detach();
  else
    thread_.join();
}

void callback_thread::loop() {
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    cv_.wait(guard, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty())
      return;  // stopping, and nothing left to run
    auto work = std::move(queue_.front());
    queue_.pop_front();
    guard.unlock();
    work();
    guard.lock();
  }
}

}  // namespace troupe::detail
