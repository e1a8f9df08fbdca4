#include "troupe/actors/join.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

namespace troupe {

std::optional<caf::error> join_for(caf::actor_system& sys, const caf::actor& whom,
                                   std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  self->monitor(whom);
  std::optional<caf::error> reason;
  self->receive([&](caf::down_msg& msg) { reason = std::move(msg.reason); },
                caf::after(timeout) >> [] {});
  return reason;
}

caf::error join(caf::actor_system& sys, const caf::actor& whom) {
  caf::scoped_actor self{sys};
  self->monitor(whom);
  caf::error reason;
  self->receive([&](caf::down_msg& msg) { reason = std::move(msg.reason); });
  return reason;
}

bool exited_normally(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::normal || reason == caf::exit_reason::user_shutdown;
}

}  // namespace troupe
