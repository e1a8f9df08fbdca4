// peer_socketpair: the floor for any inter-process messaging on this machine. A parent and a
// forked child (no CAF, no threads, so fork without exec is safe) talk over an AF_UNIX
// SOCK_STREAM socketpair using 32-byte frames (8-byte sequence number + 24 bytes padding).
// Measures one-way throughput with one write() per frame and with 64 KiB batched writes, and the
// median ping-pong round trip. Output: one JSON line per figure on stdout (see README.md).

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "peer_common.hpp"

namespace {

constexpr const char* program = "peer_socketpair";

using clock_type = std::chrono::steady_clock;

constexpr size_t frame_size = 32;
constexpr size_t batch_bytes = 64 * 1024;  // 2048 frames per write in the batched variant
constexpr int child_timeout_s = 60;        // a child never outlives a stuck parent by more

struct frame {
  uint64_t seq;
  char pad[frame_size - sizeof(uint64_t)];
};
static_assert(sizeof(frame) == frame_size);

[[noreturn]] void die(const std::string& what) {
  peers::fail_errno(program, what);
}

[[noreturn]] void die_plain(const std::string& what) {
  peers::fail(program, what);
}

// Short writes/reads are normal on stream sockets; these loop until the whole buffer moved.
void write_all(int fd, const void* buf, size_t len) {
  auto p = static_cast<const char*>(buf);
  while (len > 0) {
    auto n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("write");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

void read_all(int fd, void* buf, size_t len) {
  auto p = static_cast<char*>(buf);
  while (len > 0) {
    auto n = ::read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      die(n == 0 ? "read: unexpected EOF" : "read");
    p += n;
    len -= static_cast<size_t>(n);
  }
}

// Runs `body(fd)` in a forked child that holds one end of a fresh socketpair; returns the
// parent's end. The child dies with the parent (PDEATHSIG) and after child_timeout_s at most.
struct child_proc {
  pid_t pid = -1;
  int fd = -1;
};

child_proc spawn_child(const std::function<void(int)>& body) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    die("socketpair");
  std::fflush(stdout);  // never let the child flush a copy of our pending output
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      _exit(1);
    ::alarm(child_timeout_s);
    ::close(sv[0]);
    body(sv[1]);
    _exit(0);
  }
  ::close(sv[1]);
  return {pid, sv[0]};
}

// Waits for the child for a bounded time, then kills it; fails if it did not exit cleanly.
void reap_child(child_proc& c) {
  ::close(c.fd);
  auto deadline = clock_type::now() + std::chrono::seconds(5);
  int status = 0;
  for (;;) {
    auto r = ::waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid)
      break;
    if (r < 0)
      die("waitpid");
    if (clock_type::now() > deadline) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      die_plain("child did not exit in time");
    }
    ::usleep(1000);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    die_plain("child failed (status " + std::to_string(status) + ")");
  }
}

// Receiver side of both one-way variants: reads whatever arrives in big chunks, parses the
// frames (checking the sequence so a parsing bug cannot inflate the figure) and acks at the end.
void count_frames(int fd, uint64_t n) {
  std::vector<char> buf(batch_bytes);
  size_t have = 0;  // bytes of an incomplete frame carried over to the next read
  uint64_t expected = 0;
  while (expected < n) {
    auto r = ::read(fd, buf.data() + have, buf.size() - have);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      _exit(2);
    have += static_cast<size_t>(r);
    size_t off = 0;
    for (; off + frame_size <= have; off += frame_size) {
      frame f;
      std::memcpy(&f, buf.data() + off, frame_size);
      if (f.seq != expected)
        _exit(3);
      ++expected;
    }
    std::memmove(buf.data(), buf.data() + off, have - off);
    have -= off;
  }
  write_all(fd, &expected, sizeof(expected));
}

uint64_t await_ack(int fd) {
  uint64_t ack = 0;
  read_all(fd, &ack, sizeof(ack));
  return ack;
}

double one_way(uint64_t n, size_t frames_per_write) {
  auto child = spawn_child([n](int fd) { count_frames(fd, n); });
  std::vector<frame> batch(frames_per_write);
  for (auto& f : batch)
    std::memset(f.pad, 'x', sizeof(f.pad));
  auto start = clock_type::now();
  for (uint64_t seq = 0; seq < n;) {
    size_t k = 0;
    for (; k < frames_per_write && seq < n; ++k)
      batch[k].seq = seq++;
    write_all(child.fd, batch.data(), k * frame_size);
  }
  auto ack = await_ack(child.fd);
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  reap_child(child);
  if (ack != n) {
    die_plain("receiver counted " + std::to_string(ack) + " frames, expected " + std::to_string(n));
  }
  return static_cast<double>(n) / elapsed.count();
}

// Echoes 32-byte frames until the parent closes its end.
void echo_frames(int fd) {
  frame f;
  for (;;) {
    auto r = ::read(fd, &f, sizeof(f));
    if (r == 0)
      return;
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      _exit(2);
    if (static_cast<size_t>(r) < sizeof(f))
      read_all(fd, reinterpret_cast<char*>(&f) + r, sizeof(f) - static_cast<size_t>(r));
    write_all(fd, &f, sizeof(f));
  }
}

double round_trip(uint64_t warmup, uint64_t n) {
  auto child = spawn_child(echo_frames);
  std::vector<double> samples;
  samples.reserve(n);
  frame f;
  std::memset(f.pad, 'x', sizeof(f.pad));
  for (uint64_t i = 0; i < warmup + n; ++i) {
    f.seq = i;
    auto start = clock_type::now();
    write_all(child.fd, &f, sizeof(f));
    read_all(child.fd, &f, sizeof(f));
    std::chrono::duration<double, std::micro> rtt = clock_type::now() - start;
    if (f.seq != i) {
      die_plain("echo returned the wrong frame");
    }
    if (i >= warmup)
      samples.push_back(rtt.count());
  }
  reap_child(child);
  return peers::median(std::move(samples));
}

}  // namespace

int main(int argc, char** argv) {
  auto opt = peers::parse_args(argc, argv, {"one_way_throughput", "round_trip"});
  ::signal(SIGPIPE,
           SIG_IGN);  // a dead child must surface as EPIPE and a message, not a silent kill
  uint64_t frames = opt.quick ? 100'000 : 1'000'000;
  uint64_t trips = opt.quick ? 2'000 : 20'000;
  if (peers::wanted(opt, "one_way_throughput")) {
    peers::emit(opt, "one_way_throughput", "raw_socketpair_1write", one_way(frames, 1), "msgs/s");
    peers::emit(opt, "one_way_throughput", "raw_socketpair_batched",
                one_way(frames, batch_bytes / frame_size), "msgs/s");
  }
  if (peers::wanted(opt, "round_trip"))
    peers::emit(opt, "round_trip", "raw_socketpair", round_trip(trips / 10, trips), "us");
  return 0;
}
