// troupe::process: multiprocessing.Process. A worker process running one target: a registered
// function (target.hpp) or a registered actor type.
//
//   auto p = troupe::process::start(node, printer, "Hello", "World");  // Process(target=...)
//   p->join();                                       // waits until the process exited
//   p->exitcode();                                   // 0; 1 if the target threw; -9 if killed
//
// start() starts a new process of this program, hands it the arguments (queues and pipe ends
// reach the same channels, see queue.hpp and pipe.hpp) and runs the target there; the process
// exits when its target returns. The target must be registered in the program's setup, which
// every process runs. With an actor type (add_actor_type) the process lives until that actor
// terminates.
//
// exitcode() is empty while the process runs; then its exit status, or minus the signal that
// ended it (-9 after kill(), -15 after terminate()), as in Python; 1 if the target threw (or
// the actor failed). A status the node reports as 128 + N is read as signal N when the exact
// status was reaped by the node first (rare: the process's own watcher normally reads it first).
//
// Each process has one watcher thread, which notices its exit (a pidfd, Linux 5.3 or newer).
// A process handle must not outlive its node. Destroying a handle whose process still runs
// stops that process (it is asked to exit, and SIGKILLed 5 s later).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>

#include "troupe/nodes/ipc/target.hpp"
#include "troupe/nodes/node.hpp"

namespace troupe {

namespace ipc {
struct process_core;
}

class process {
public:
  /// Runs the registered actor type in a new process (args: empty or one Protobuf message).
  static caf::expected<process> start(node& n, const std::string& actor_type,
                                      caf::message args = {});

  /// Runs the registered target `fn(args...)` in a new process.
  template <class R, class... Ps, class... As>
  static caf::expected<process> start(node& n, R (*fn)(Ps...), As&&... args) {
    static_assert(sizeof...(Ps) == sizeof...(As),
                  "process::start(node, fn, args...): pass exactly one argument per parameter");
    auto entry = ipc::target_registry::instance().find(reinterpret_cast<const void*>(fn));
    if (!entry)
      return make_error(errc::unknown_task,
                        "this function is not a registered process target: register it in the "
                        "program's setup with troupe::add_process_target(cfg, name, fn)");
    std::vector<ipc::outgoing_argument> out;
    (out.push_back(ipc::make_argument<Ps>(std::forward<As>(args))), ...);
    return start_target(n, entry->name, std::move(out));
  }

  process(process&&) noexcept;
  process& operator=(process&&) noexcept;
  ~process();

  /// The actor running in the process: the actor type's actor, or the target's runner.
  const caf::actor& actor() const noexcept;
  uint32_t pid() const noexcept;

  /// Waits until the process exited (up to `timeout`) and returns its exitcode; an error if it
  /// still runs at the timeout or its status could not be read.
  caf::expected<int> join(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

  /// Empty while the process runs (see the header comment).
  std::optional<int> exitcode() const;

  /// True from start until the process exited.
  bool is_alive() const;

  /// SIGTERM; nothing if the process exited already.
  void terminate();

  /// SIGKILL; nothing if the process exited already.
  void kill();

private:
  explicit process(std::shared_ptr<ipc::process_core> core);

  static caf::expected<process> start_target(node& n, const std::string& target,
                                             std::vector<ipc::outgoing_argument> args);

  std::shared_ptr<ipc::process_core> core_;
};

}  // namespace troupe
