// troupe::detail::current_pool_worker: the thread pool worker actor running the calling task.
//
// Internal on purpose, not part of the API: a pool's workers are its own, and nothing a user
// does needs their handles. It exists for the pool's tests, which send a worker an exit message
// mid-task to check that a terminated worker loses no task and is replaced; that cannot be
// provoked through the public API.
#pragma once

#include <caf/actor.hpp>

namespace troupe::detail {

/// The worker actor running the calling task, or an invalid handle outside a pool task.
caf::actor current_pool_worker();

}  // namespace troupe::detail
