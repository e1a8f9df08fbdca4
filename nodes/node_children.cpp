#include "troupe/nodes/node_children.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <thread>

#include "troupe/messages/error.hpp"

extern char** environ;

namespace troupe::detail {
namespace {

std::string errno_text(const char* what) {
  return std::string{what} + ": " + std::strerror(errno);
}

int exit_status(int wait_status) {
  if (WIFEXITED(wait_status))
    return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status))
    return 128 + WTERMSIG(wait_status);
  return -1;
}

// Forwards the child's stderr to ours until EOF, remembering the last non-empty line.
void pump_stderr(int fd, std::shared_ptr<child_stderr> out) {
  std::thread{[fd, out] {
    std::string pending;
    char buf[4096];
    for (;;) {
      auto n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      pending.append(buf, static_cast<size_t>(n));
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        auto line = std::string_view{pending}.substr(start, nl + 1 - start);
        static_cast<void>(!write(STDERR_FILENO, line.data(), line.size()));
        if (line.size() > 1) {
          std::lock_guard<std::mutex> guard{out->mtx};
          out->last_line.assign(line.data(), line.size() - 1);
        }
      }
      pending.erase(0, start);
    }
    if (!pending.empty()) {
      static_cast<void>(!write(STDERR_FILENO, pending.data(), pending.size()));
      std::lock_guard<std::mutex> guard{out->mtx};
      out->last_line = pending;
    }
    close(fd);
    std::lock_guard<std::mutex> guard{out->mtx};
    out->closed = true;
  }}.detach();
}

// Why a child that exited before joining failed to start.
caf::error start_failure(const child_process& child) {
  auto last = child.stderr_lines ? child.stderr_lines->last() : std::string{};
  // SIGKILL that this node did not send (it sends one only when the handshake times out) came
  // from outside, like a user or the OOM killer: no fault of the program's start-up.
  bool killed_from_outside =
      *child.status == 128 + SIGKILL && !is(child.down_reason, errc::handshake_timeout);
  return make_error(
      killed_from_outside ? errc::worker_lost : errc::worker_start_failed,
      "worker process " + std::to_string(child.pid)
          + (killed_from_outside
                 ? std::string{" was killed (SIGKILL) before joining"}
                 : " exited with status " + std::to_string(*child.status) + " before joining")
          + (last.empty() ? std::string{} : ": " + last));
}

}  // namespace

caf::expected<spawned_worker> spawn_worker_process(const node_options& opts, uint64_t index) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return make_error(errc::connect_failed, errno_text("socketpair"));
  // The default buffers of a Unix socket (about 200 KiB) make a busy link stall on every
  // other write; TCP on loopback grows its own. Best effort: the kernel caps the size.
  for (int fd : fds) {
    int size = 4 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  std::vector<std::string> args{
      node::executable(),
      "--troupe-worker-fd",
      "3",
      "--troupe-parent-pid",
      std::to_string(getpid()),
      "--node-name",
      opts.name + "-worker-" + std::to_string(index),
      "--log-level",
      opts.log_level,
      "--heartbeat-interval-ms",
      std::to_string(opts.heartbeat_interval.count()),
      "--heartbeat-timeout-ms",
      std::to_string(opts.heartbeat_timeout.count()),
      "--max-frame-size",
      std::to_string(opts.max_frame_size),
  };
  args.insert(args.end(), opts.worker_args.begin(), opts.worker_args.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(fds[0]);
    close(fds[1]);
    return make_error(errc::connect_failed, errno_text("pipe"));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto fd 3 (and 2) clears close-on-exec for the child's copy only.
  posix_spawn_file_actions_adddup2(&actions, fds[1], 3);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(fds[0]);
    close(err_pipe[0]);
    errno = rc;
    return make_error(errc::connect_failed, errno_text("posix_spawn"));
  }
  auto lines = std::make_shared<child_stderr>();
  pump_stderr(err_pipe[0], lines);
  return spawned_worker{pid, fds[0], std::move(lines)};
}

reap_step reap_child(child_process& child) {
  if (!child.status) {
    int status = 0;
    auto rc = waitpid(child.pid, &status, WNOHANG);
    if (rc == child.pid)
      child.status = exit_status(status);
    else if (rc < 0)
      child.status = -1;  // not ours any more (reaped elsewhere)
  }
  if (child.status && !child.start_waiters.empty()) {
    // Say why it failed: wait (briefly) for its last stderr line to come through the pipe.
    auto now = std::chrono::steady_clock::now();
    if (!child.exited_at)
      child.exited_at = now;
    bool drained = !child.stderr_lines || child.stderr_lines->is_closed()
                   || now - *child.exited_at > std::chrono::milliseconds{500};
    if (!drained)
      return reap_step::again;
    auto err = start_failure(child);
    for (auto& rp : child.start_waiters)
      rp.deliver(err);
    child.start_waiters.clear();
  }
  if (child.status) {
    for (auto& rp : child.exit_waiters)
      rp.deliver(*child.status);
    child.exit_waiters.clear();
    if (child.down)
      return reap_step::forget;
  }
  return reap_step::again;
}

}  // namespace troupe::detail
