#include "troupe/nodes/process.hpp"

#include "troupe/actors/join.hpp"
#include "troupe/messages/error.hpp"

namespace troupe {

caf::expected<process> process::start(node& n, const std::string& actor_type, caf::message args) {
  auto worker = n.start_worker();
  if (!worker)
    return std::move(worker.error());
  auto actor = n.spawn_on(*worker, actor_type, std::move(args));
  if (!actor) {
    n.stop_worker(*worker);
    return std::move(actor.error());
  }
  return process{n, std::move(*worker), std::move(*actor)};
}

caf::expected<int> process::join(std::chrono::milliseconds timeout) {
  if (exitcode_)
    return *exitcode_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!join_for(node_->system(), actor_, timeout))
    return make_error(errc::cancelled, "the process's actor is still running");
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  auto status = node_->stop_worker(worker_, std::max(left, std::chrono::milliseconds{1000}));
  if (status)
    exitcode_ = *status;
  return status;
}

}  // namespace troupe
