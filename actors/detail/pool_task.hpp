// troupe::detail::pool_task: a thread pool task with its future's producer side, type-erased so
// that the pool's queue (thread_pool.cpp) holds tasks of any result type. Internal to the pool.
#pragma once

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

#include <caf/error.hpp>

#include "troupe/actors/future.hpp"
#include "troupe/messages/error.hpp"

namespace troupe::detail {

/// A unit of work owned by exactly one place at a time: the pool's queue, then the worker that
/// runs it. Never leaves the process.
class pool_task {
public:
  virtual ~pool_task() = default;
  /// Runs the work and completes its future, unless the future was cancelled meanwhile (the
  /// work is skipped then); never throws.
  virtual void run() noexcept = 0;
  /// Cancels the future with `reason` instead of running the work.
  virtual void cancel(caf::error reason) noexcept = 0;
};

using pool_task_ptr = std::unique_ptr<pool_task>;

template <class R, class Work>
class pool_task_impl final : public pool_task {
public:
  pool_task_impl(std::shared_ptr<future_state<R>> state, Work work)
      : state_(std::move(state)), work_(std::move(work)) {}

  // Nothing is lost silently: a task dropped unrun still completes its future.
  ~pool_task_impl() override {
    if (!completed_)
      state_->set_error(make_error(errc::worker_lost, "thread pool task dropped before it ran"));
  }

  void run() noexcept override {
    completed_ = true;
    if (!state_->set_running_or_notify_cancel())
      return;  // cancelled while it waited in the queue
    try {
      if constexpr (std::is_void<R>::value) {
        work_();
        state_->set_value({});
      } else {
        state_->set_value(work_());
      }
    } catch (const std::exception& ex) {
      state_->set_exception(std::current_exception(), make_error(errc::task_failed, ex.what()));
    } catch (...) {
      state_->set_exception(std::current_exception(),
                            make_error(errc::task_failed, "unknown exception"));
    }
  }

  void cancel(caf::error reason) noexcept override {
    completed_ = true;
    state_->set_cancelled(std::move(reason));
  }

private:
  std::shared_ptr<future_state<R>> state_;
  Work work_;
  bool completed_ = false;  // only its current owner touches the task
};

/// A future for `work`, cancellable until a worker starts it, and the task that completes it.
template <class R, class Work>
std::pair<future<R>, pool_task_ptr> make_pool_task(Work work) {
  auto fut = future_access::make_pending<R>();
  const auto& state = future_access::state(fut);
  // The worker asks the state before it starts the work (run above), so a cancelled task is
  // skipped where it waits in the queue: there is nothing to withdraw.
  state->set_canceller([] { return true; });
  return {fut, std::make_unique<pool_task_impl<R, Work>>(state, std::move(work))};
}

}  // namespace troupe::detail
