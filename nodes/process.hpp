// troupe::process: one worker process running one actor, like multiprocessing.Process.
//
//   auto p = troupe::process::start(node, "printer", greeting);  // a new process + its actor
//   p->join();                                                   // the actor finished; the
//   p->exitcode();                                               // process exited: status 0
//
// The actor type must be registered in the program's setup (add_actor_type), so that the new
// process, running the same program, can spawn it. join() waits for the actor to terminate and
// then for the process to exit; the exit status is 0 after a clean exit.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>

#include "troupe/nodes/node.hpp"

namespace troupe {

class process {
public:
  static caf::expected<process> start(node& n, const std::string& actor_type,
                                      caf::message args = {});

  const caf::actor& actor() const noexcept {
    return actor_;
  }
  uint32_t pid() const noexcept {
    return worker_.process_id;
  }

  /// Waits for the actor to finish, then for the process to exit; returns the exit status.
  caf::expected<int> join(std::chrono::milliseconds timeout = std::chrono::hours{24});

  /// The exit status once joined.
  std::optional<int> exitcode() const noexcept {
    return exitcode_;
  }

private:
  process(node& n, peer worker, caf::actor actor)
      : node_(&n), worker_(std::move(worker)), actor_(std::move(actor)) {}

  node* node_;
  peer worker_;
  caf::actor actor_;
  std::optional<int> exitcode_;
};

}  // namespace troupe
