// plain_primes: the machine's ceiling for cpu_speedup_2_workers. troupe's prime-counting kernel
// (count_primes.hpp) over the same 16 ranges, run by 1 and then 2 plain forked processes: no
// troupe, no CAF, no threads (so fork without exec is safe). The processes take range indices
// from one shared pipe, one byte each, which shares the work as dynamically as the pools'
// map(..., chunksize 1). Timed from handing out the first range (the processes are started and
// waiting) until every process reported its count. Output: one JSON line, as the peers print.

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "count_primes.hpp"
#include "peers/peer_common.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr const char* program = "plain_primes";
constexpr unsigned whole_run_timeout_s = 60;  // SIGALRM: a hang ends the run (and, by
                                              // PR_SET_PDEATHSIG, the counting processes)
constexpr int wait_timeout_ms = 30'000;

struct pipe_fds {
  int read = -1;
  int write = -1;
};

pipe_fds make_pipe() {
  int fds[2];
  if (::pipe(fds) != 0)
    peers::fail_errno(program, "pipe");
  return {fds[0], fds[1]};
}

// Reads exactly `size` bytes, waiting at most wait_timeout_ms for each part.
void read_fully(int fd, void* data, size_t size, const char* what) {
  auto* out = static_cast<char*>(data);
  while (size > 0) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, wait_timeout_ms) != 1)
      peers::fail(program, std::string{"timed out waiting for "} + what);
    auto got = ::read(fd, out, size);
    if (got <= 0)
      peers::fail(program, std::string{"a counting process died before "} + what);
    out += got;
    size -= static_cast<size_t>(got);
  }
}

// A counting process: says it is ready, counts the ranges it takes from the shared pipe until
// the pipe is empty and closed, then writes its total.
[[noreturn]] void count_ranges(pid_t parent, pipe_fds tasks, pipe_fds ready, pipe_fds results) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent)
    ::_exit(1);
  ::close(tasks.write);
  ::close(ready.read);
  ::close(results.read);
  char r = 'r';
  if (::write(ready.write, &r, 1) != 1)
    ::_exit(1);
  int64_t total = 0;
  unsigned char k = 0;
  // A one-byte read from a pipe takes exactly one byte: no range is counted twice.
  while (::read(tasks.read, &k, 1) == 1)
    total += primes::count(primes::range_lo(k), primes::range_lo(k + 1u));
  // 8 bytes are below PIPE_BUF: the parent never sees two totals interleaved.
  if (::write(results.write, &total, sizeof total) != sizeof total)
    ::_exit(1);
  ::_exit(0);
}

void reap(const std::vector<pid_t>& children) {
  for (auto pid : children) {
    auto deadline = clock_type::now() + 5s;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (clock_type::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        peers::fail(program, "a counting process did not exit");
      }
      std::this_thread::sleep_for(1ms);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      peers::fail(program, "a counting process failed");
  }
}

// Seconds for `processes` plain processes to count the primes below primes::limit.
double time_processes(unsigned processes) {
  auto tasks = make_pipe();
  auto ready = make_pipe();
  auto results = make_pipe();
  std::vector<pid_t> children;
  auto parent = ::getpid();
  for (unsigned i = 0; i < processes; ++i) {
    auto pid = ::fork();
    if (pid < 0)
      peers::fail_errno(program, "fork");
    if (pid == 0)
      count_ranges(parent, tasks, ready, results);
    children.push_back(pid);
  }
  ::close(tasks.read);
  ::close(ready.write);
  ::close(results.write);
  std::vector<char> ready_bytes(processes);
  read_fully(ready.read, ready_bytes.data(), processes, "the processes to start");

  std::vector<unsigned char> indices(primes::ranges);
  for (unsigned k = 0; k < primes::ranges; ++k)
    indices[k] = static_cast<unsigned char>(k);
  auto start = clock_type::now();
  if (::write(tasks.write, indices.data(), indices.size()) != static_cast<ssize_t>(indices.size()))
    peers::fail_errno(program, "write the ranges");
  ::close(tasks.write);  // the processes stop once the pipe is empty
  int64_t total = 0;
  for (unsigned i = 0; i < processes; ++i) {
    int64_t count = 0;
    read_fully(results.read, &count, sizeof count, "the counts");
    total += count;
  }
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  ::close(ready.read);
  ::close(results.read);
  reap(children);
  if (total != primes::below_limit)
    peers::fail(program, "counted " + std::to_string(total) + " primes below "
                             + std::to_string(primes::limit) + ", expected "
                             + std::to_string(primes::below_limit));
  return elapsed.count();
}

}  // namespace

int main(int argc, char** argv) {
  // --quick is accepted and changes nothing: the problem is the same, and it takes under 1 s.
  auto opt = peers::parse_args(argc, argv, {"cpu_speedup_2_workers"});
  ::alarm(whole_run_timeout_s);
  auto one = time_processes(1);
  auto two = time_processes(2);
  std::fprintf(stderr, "%s: primes below %llu: 1 process %.3f s, 2 processes %.3f s\n", program,
               static_cast<unsigned long long>(primes::limit), one, two);
  peers::emit(opt, "cpu_speedup_2_workers", "plain_processes", one / two, "x");
  return 0;
}
