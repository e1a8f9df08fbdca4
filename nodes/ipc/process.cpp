#include "troupe/nodes/ipc/process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/system_messages.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/messages/error.hpp"
#include "troupe/messages/protobuf.hpp"
#include "troupe/nodes/ipc/ipc.pb.h"
#include "troupe/nodes/log.hpp"

namespace troupe::ipc {

// The system calls themselves: glibc 2.36's <sys/pidfd.h> declares its wrappers without C
// linkage, so C++ cannot link them.
int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

int signal_pidfd(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// What a process handle and its watcher thread share. The watcher waits for one of two things:
// the process exits (its pidfd becomes readable: the exact status is read without reaping it,
// the node reaps it), or the target finished (`wake`): then it asks the worker to exit.
struct process_core {
  node* owner = nullptr;
  peer worker;
  caf::actor actor;
  int pidfd = -1;
  int wake = -1;  // eventfd
  std::thread watcher;

  std::mutex mtx;
  std::condition_variable exited;
  std::optional<int> exitcode;
  caf::error status_error;  // set instead of exitcode if the status could not be read
  bool done = false;        // the watcher finished
  bool stopping = false;    // the watcher asked the worker to exit
  bool target_failed = false;
  bool actor_target = false;  // started from an actor type: join also watches the actor itself

  ~process_core() {
    if (pidfd >= 0)
      ::close(pidfd);
    if (wake >= 0)
      ::close(wake);
  }

  void notify() {
    uint64_t one = 1;
    while (::write(wake, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }

  // The target returned (or threw, or the actor ended): the process may exit now.
  void target_done(bool failed) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (!stopping)
        target_failed |= failed;
    }
    notify();
  }

  // The exit status if the process exited: status, or minus the signal; not reaped (WNOWAIT).
  std::optional<int> exact_status() const {
    siginfo_t info{};
    if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
               WEXITED | WNOWAIT | WNOHANG)
            != 0
        || info.si_pid == 0)
      return std::nullopt;
    if (info.si_code == CLD_EXITED)
      return info.si_status;
    return -info.si_status;  // CLD_KILLED, CLD_DUMPED
  }

  void watch() {
    pollfd fds[2] = {{pidfd, POLLIN, 0}, {wake, POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
    }
    auto code = exact_status();
    caf::error err;
    if (!code) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        stopping = true;
      }
      auto status = owner->stop_worker(worker, std::chrono::seconds{10});
      if (status) {
        // The node reports a signal as 128 + N.
        code = *status > 128 && *status <= 128 + 64 ? -(*status - 128) : *status;
      } else {
        err = status.error();
      }
    }
    std::lock_guard<std::mutex> guard{mtx};
    if (code)
      exitcode = *code == 0 && target_failed ? 1 : *code;
    else
      status_error = std::move(err);
    done = true;
    exited.notify_all();
  }

  void shutdown() {
    if (!watcher.joinable())
      return;
    notify();
    watcher.join();
  }
};

namespace {

bool lost_with_its_process(const caf::error& err) {
  return is(err, errc::node_down) || is(err, errc::shutdown);
}

caf::behavior supervise_target(caf::event_based_actor* self, std::shared_ptr<process_core> core,
                               caf::actor runner, Run run) {
  self->request(runner, caf::infinite, std::move(run))
      .then(
          [self, core](const Finished& finished) {
            core->target_done(finished.failed());
            self->quit();
          },
          [self, core](caf::error& err) {
            // A lost process reports itself through its pidfd; anything else is the target's
            // failure to start (unknown name, wrong arguments).
            if (!lost_with_its_process(err)) {
              log::get().error("process {}: the target did not run: {}", core->worker.process_id,
                               describe(err));
              core->target_done(true);
            }
            self->quit();
          });
  return {[](tick_atom) {}};
}

caf::behavior supervise_actor(caf::event_based_actor* self, std::shared_ptr<process_core> core,
                              caf::actor target) {
  self->monitor(target);
  self->set_down_handler([self, core](caf::down_msg& msg) {
    // Always tell the watcher: a target that ended before this monitor reached the worker comes
    // back as down with the link's reason (node_down), and a lost process is read from its
    // pidfd anyway. Only an abnormal exit of a target that ran counts as its failure.
    core->target_done(!exited_normally(msg.reason) && !lost_with_its_process(msg.reason));
    self->quit();
  });
  return {[](tick_atom) {}};
}

std::string errno_text(const char* what) {
  return std::string{what} + ": " + std::strerror(errno);
}

// Starts a worker process and its watcher.
caf::expected<std::shared_ptr<process_core>> launch(node& n) {
  auto worker = n.start_worker();
  if (!worker)
    return std::move(worker.error());
  auto core = std::make_shared<process_core>();
  core->owner = &n;
  core->worker = std::move(*worker);
  core->pidfd = open_pidfd(static_cast<pid_t>(core->worker.process_id));
  core->wake = eventfd(0, EFD_CLOEXEC);
  if (core->pidfd < 0 || core->wake < 0) {
    auto err = make_error(errc::worker_start_failed,
                          errno_text(core->pidfd < 0 ? "pidfd_open" : "eventfd"));
    n.stop_worker(core->worker);
    return err;
  }
  core->watcher = std::thread{[raw = core.get()] { raw->watch(); }};
  return core;
}

}  // namespace
}  // namespace troupe::ipc

namespace troupe {

process::process(std::shared_ptr<ipc::process_core> core) : core_(std::move(core)) {}

process::process(process&&) noexcept = default;

process& process::operator=(process&& other) noexcept {
  if (this != &other) {
    if (core_)
      core_->shutdown();
    core_ = std::move(other.core_);
  }
  return *this;
}

process::~process() {
  if (core_)
    core_->shutdown();
}

caf::expected<process> process::start(node& n, const std::string& actor_type, caf::message args) {
  auto core = ipc::launch(n);
  if (!core)
    return std::move(core.error());
  process p{*core};
  auto actor = n.spawn_on((*core)->worker, actor_type, std::move(args));
  if (!actor)
    return std::move(actor.error());  // p stops the worker
  (*core)->actor = *actor;
  (*core)->actor_target = true;
  n.system().spawn(ipc::supervise_actor, *core, *actor);
  return p;
}

caf::expected<process> process::start_target(node& n, const std::string& target,
                                             std::vector<ipc::outgoing_argument> args) {
  auto core = ipc::launch(n);
  if (!core)
    return std::move(core.error());
  process p{*core};
  auto runner = n.spawn_on((*core)->worker, ipc::runner_type);
  if (!runner)
    return std::move(runner.error());
  (*core)->actor = *runner;
  ipc::Run run;
  run.set_target(target);
  uint32_t slot = 0;
  for (auto& arg : args) {
    auto* out = run.add_args();
    out->set_value_type(arg.value_type);
    if (arg.channels.empty()) {
      out->set_value(std::move(arg.value));
      continue;
    }
    out->set_channel(slot);
    for (auto& ch : arg.channels)
      if (auto err =
              ipc::attach(n.system(), ch.actor, *runner, slot, ch.end, ch.may_put, ch.may_get))
        return err;
    ++slot;
  }
  n.system().spawn(ipc::supervise_target, *core, *runner, std::move(run));
  return p;
}

const caf::actor& process::actor() const noexcept {
  return core_->actor;
}

uint32_t process::pid() const noexcept {
  return core_->worker.process_id;
}

caf::expected<int> process::join(std::chrono::milliseconds timeout) {
  if (core_->actor_target) {
    // As well as the supervisor's monitor (which may not hear of a target that ended before the
    // monitor reached the worker), wait for the actor itself here, as a join always has.
    bool forever = timeout == std::chrono::milliseconds::max();
    auto start = std::chrono::steady_clock::now();
    auto wait = forever ? std::chrono::milliseconds{std::chrono::hours{24 * 365}} : timeout;
    if (auto reason = join_for(core_->owner->system(), core_->actor, wait))
      core_->target_done(!exited_normally(*reason) && !ipc::lost_with_its_process(*reason));
    if (!forever)
      timeout = std::max(std::chrono::milliseconds{0},
                         timeout
                             - std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - start));
  }
  std::unique_lock<std::mutex> guard{core_->mtx};
  auto over = [this] { return core_->done; };
  if (timeout == std::chrono::milliseconds::max())
    core_->exited.wait(guard, over);
  else if (!core_->exited.wait_for(guard, timeout, over))
    return make_error(errc::cancelled, "process " + std::to_string(pid()) + " still runs after "
                                           + std::to_string(timeout.count()) + " ms");
  if (core_->exitcode)
    return *core_->exitcode;
  return core_->status_error;
}

std::optional<int> process::exitcode() const {
  std::lock_guard<std::mutex> guard{core_->mtx};
  return core_->exitcode;
}

bool process::is_alive() const {
  pollfd fd{core_->pidfd, POLLIN, 0};
  return ::poll(&fd, 1, 0) == 0;
}

namespace {

void send_signal(int pidfd, int sig) {
  if (ipc::signal_pidfd(pidfd, sig) != 0 && errno != ESRCH)
    throw std::system_error{errno, std::generic_category(), "pidfd_send_signal"};
}

}  // namespace

void process::terminate() {
  send_signal(core_->pidfd, SIGTERM);
}

void process::kill() {
  send_signal(core_->pidfd, SIGKILL);
}

}  // namespace troupe
