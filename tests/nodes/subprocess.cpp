#include "subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

extern char** environ;

namespace troupe::test {

subprocess start(const std::vector<std::string>& args) {
  subprocess p;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return p;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  if (posix_spawn(&p.pid, argv[0], &actions, nullptr, argv.data(), environ) != 0)
    p.pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  p.out_fd = fds[0];
  return p;
}

bool subprocess::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (output.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_fd < 0)
      return false;
    pollfd pfd{out_fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buf[4096];
    auto n = read(out_fd, buf, sizeof(buf));
    if (n <= 0) {
      close(out_fd);
      out_fd = -1;
      return output.find(needle) != std::string::npos;
    }
    output.append(buf, static_cast<size_t>(n));
  }
  return true;
}

std::optional<int> subprocess::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    auto rc = waitpid(pid, &status, WNOHANG);
    if (rc == pid) {
      pid = -1;
      read_until("\x01never\x01", std::chrono::milliseconds{200});  // drain the rest
      if (WIFEXITED(status))
        return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (rc < 0 || std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

void subprocess::kill_now() {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
}

subprocess::~subprocess() {
  kill_now();
  if (out_fd >= 0)
    close(out_fd);
}

std::string self_path() {
  char buf[4096];
  auto n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
}

bool running(pid_t pid) {
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  if (!stat)
    return false;
  std::string content((std::istreambuf_iterator<char>(stat)), {});
  auto close_paren = content.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= content.size())
    return false;
  char state = content[close_paren + 2];
  return state != 'Z' && state != 'X';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running(pid)) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return true;
}

subprocess start_test_head(const std::vector<std::string>& args,
                           const std::vector<std::string>& env) {
  std::vector<std::string> argv{"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(self_path());
  argv.push_back("head-for-test");
  argv.insert(argv.end(), args.begin(), args.end());
  return start(argv);
}

}  // namespace troupe::test
