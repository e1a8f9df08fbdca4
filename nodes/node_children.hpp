// The worker processes a node starts (internal, used by its manager actor, node_manager.cpp):
// how one is spawned (posix_spawn of this program, its socketpair end as fd 3), how its stderr
// passes through the head line by line, and how its exit is collected.
//
// Threads: a child's stderr pump runs on a detached thread of its own and shares only
// child_stderr (behind its mutex) with the manager; everything else here runs on the manager.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/response_promise.hpp>

#include "troupe/nodes/node.hpp"

namespace troupe::detail {

/// What a child wrote to stderr, as far as the head needs it: its last line says why a worker
/// that failed at start-up failed.
struct child_stderr {
  std::mutex mtx;
  std::string last_line;
  bool closed = false;  // EOF: the child and everything it started closed the pipe

  std::string last() {
    std::lock_guard<std::mutex> guard{mtx};
    return last_line;
  }
  bool is_closed() {
    std::lock_guard<std::mutex> guard{mtx};
    return closed;
  }
};

/// A worker process this node started, from its spawn until its exit status is collected.
struct child_process {
  pid_t pid = 0;
  bool stopping = false;  // asked to exit: wait for it rather than kill it
  bool down = false;
  bool joined = false;     // completed its handshake
  caf::error down_reason;  // why its connection closed
  std::optional<int> status;
  std::optional<std::chrono::steady_clock::time_point> exited_at;
  std::shared_ptr<child_stderr> stderr_lines;
  std::vector<caf::response_promise> exit_waiters;
  std::vector<caf::response_promise> start_waiters;  // answered once it exits, if it never joined
};

struct spawned_worker {
  pid_t pid = 0;
  int socket = -1;  // this node's end of the socketpair
  std::shared_ptr<child_stderr> stderr_lines;
};

/// Starts worker number `index` of this program with the node's settings; its stderr is pumped
/// to ours from here on.
caf::expected<spawned_worker> spawn_worker_process(const node_options& opts, uint64_t index);

enum class reap_step {
  again,   // still on its way out (not exited, its last words still coming, or its link not down
           // yet): look again later
  forget,  // its status is collected, its waiters answered, its link down: no longer needed
};

/// Collects the exit status of a child that is leaving (asked to stop, or lost), without
/// blocking, and answers those waiting for it: for its exit status, or, if it never joined,
/// for its start with why it failed (its exit status and last stderr line).
reap_step reap_child(child_process& child);

}  // namespace troupe::detail
