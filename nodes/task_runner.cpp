#include "troupe/nodes/task_runner.hpp"

#include <chrono>

#include <caf/event_based_actor.hpp>

#include "troupe/messages/pool.pb.h"

namespace troupe {
namespace {

caf::behavior task_runner(caf::event_based_actor* self) {
  const auto* cfg = dynamic_cast<const config*>(&self->system().config());
  return {
    [cfg](const pool::TaskBatch& batch) -> caf::result<pool::ResultBatch> {
      const auto* task = cfg ? cfg->tasks().find(batch.task()) : nullptr;
      if (!task)
        return make_error(errc::unknown_task,
                          "no task named '" + batch.task() + "' is registered on this node");
      pool::ResultBatch result;
      result.set_batch_id(batch.batch_id());
      std::vector<task_failure> failures;
      auto start = std::chrono::steady_clock::now();
      task->run(batch.args(), *result.mutable_results(), failures);
      auto elapsed = std::chrono::steady_clock::now() - start;
      result.set_elapsed_ns(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
      for (auto& failure : failures) {
        auto* out = result.add_failures();
        out->set_index(failure.index);
        out->set_message(std::move(failure.message));
      }
      return result;
    },
  };
}

}  // namespace

void add_task_runner(config& cfg) {
  cfg.add_actor_type(task_runner_type, task_runner);
}

}  // namespace troupe
