// The worker side of the process pool: an actor type, "troupe.task_runner", that runs batches
// of registered tasks (config::tasks()) and answers each TaskBatch with a ResultBatch. Every
// node registers it, so a head can spawn one on any worker it reaches (internal).
#pragma once

#include "troupe/messages/config.hpp"

namespace troupe {

inline constexpr const char* task_runner_type = "troupe.task_runner";

void add_task_runner(config& cfg);

}  // namespace troupe
