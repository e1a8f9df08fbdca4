// Waiting for an actor to finish: the join() of Python's Thread and Process.
//
//   auto reason = troupe::join(sys, worker);                   // blocks until it terminated
//   auto reason = troupe::join_for(sys, worker, 5s);           // nullopt if still running
//
// The returned error is the actor's exit reason: none (or exit_reason::normal) after a normal
// exit. Works for local actors and for remote ones (troupe proxies report the remote exit).
#pragma once

#include <chrono>
#include <optional>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>

namespace troupe {

caf::error join(caf::actor_system& sys, const caf::actor& whom);

std::optional<caf::error> join_for(caf::actor_system& sys, const caf::actor& whom,
                                   std::chrono::milliseconds timeout);

/// True if `reason` means the actor finished on its own (none, normal or user_shutdown).
bool exited_normally(const caf::error& reason);

}  // namespace troupe
