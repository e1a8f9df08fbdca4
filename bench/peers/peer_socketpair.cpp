// peer_socketpair: the floor for any inter-process messaging on this machine. A parent and a
// forked child (no library, no threads, so fork without exec is safe) talk over an AF_UNIX
// SOCK_STREAM socketpair in frames of a 4-byte length prefix and the payload (16 bytes: an 8-byte
// sequence number + 8 bytes of padding; S bytes in the bandwidth sweep). Measures one-way
// throughput with one write() per frame and with 64 KiB batched writes, one-way bandwidth per
// payload size, and the ping-pong round trip (block method, peer_round_trips.hpp).
// Output: one JSON line per figure on stdout (see README.md).

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "peer_common.hpp"
#include "peer_round_trips.hpp"

namespace {

constexpr const char* program = "peer_socketpair";

using clock_type = std::chrono::steady_clock;

constexpr size_t payload_size = 16;               // bench-spec.md's message
constexpr size_t prefix_size = sizeof(uint32_t);  // each frame's payload length
constexpr size_t batch_bytes = 64 * 1024;         // the batched variant's write size
constexpr size_t read_chunk = 256 * 1024;         // the receiver reads this much at a time
constexpr int child_timeout_s = 60;               // a child never outlives a stuck parent by more

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

// Builds `count` consecutive frames of `payload` bytes into `buf`, sequence numbers from `seq`.
void fill_frames(std::vector<char>& buf, size_t payload, uint64_t seq, size_t count) {
  buf.assign(count * (prefix_size + payload), 'x');
  auto len = static_cast<uint32_t>(payload);
  for (size_t i = 0; i < count; ++i, ++seq) {
    auto frame = buf.data() + i * (prefix_size + payload);
    std::memcpy(frame, &len, prefix_size);
    std::memcpy(frame + prefix_size, &seq, sizeof(seq));
  }
}

void set_seq(std::vector<char>& buf, size_t payload, size_t index, uint64_t seq) {
  std::memcpy(buf.data() + index * (prefix_size + payload) + prefix_size, &seq, sizeof(seq));
}

// Parses a byte stream of frames whatever the read boundaries are: it keeps only each frame's
// prefix and sequence number and skips the rest of the payload, so a 1 MiB frame never needs a
// 1 MiB buffer. A wrong length or sequence number fails the run, so a parsing bug cannot
// inflate the figure.
class frame_checker {
public:
  explicit frame_checker(size_t payload) : payload_(payload) {}

  bool feed(const char* p, size_t n) {
    while (n > 0) {
      if (skip_ > 0) {
        auto k = std::min(skip_, n);
        skip_ -= k;
        p += k;
        n -= k;
        continue;
      }
      auto k = std::min(sizeof(head_) - have_, n);
      std::memcpy(head_ + have_, p, k);
      have_ += k;
      p += k;
      n -= k;
      if (have_ < sizeof(head_))
        continue;
      uint32_t len = 0;
      uint64_t seq = 0;
      std::memcpy(&len, head_, prefix_size);
      std::memcpy(&seq, head_ + prefix_size, sizeof(seq));
      if (len != payload_ || seq != frames_)
        return false;
      ++frames_;
      have_ = 0;
      skip_ = payload_ - sizeof(seq);
    }
    return true;
  }

  uint64_t frames() const {
    return frames_;
  }

  bool between_frames() const {
    return have_ == 0 && skip_ == 0;
  }

private:
  size_t payload_;
  char head_[prefix_size + sizeof(uint64_t)] = {};
  size_t have_ = 0;  // bytes of head_ filled
  size_t skip_ = 0;  // payload bytes of the current frame still to pass over
  uint64_t frames_ = 0;
};

// The receiving child of every one-way measurement: reads large chunks, checks every frame and
// acks with the count after the last one.
void count_frames(int fd, size_t payload, uint64_t n) {
  std::vector<char> buf(read_chunk);
  frame_checker checker(payload);
  while (checker.frames() < n || !checker.between_frames()) {
    auto r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      _exit(2);
    if (!checker.feed(buf.data(), static_cast<size_t>(r)))
      _exit(3);
  }
  auto count = checker.frames();
  write_all(fd, &count, sizeof(count));
}

uint64_t await_ack(int fd) {
  uint64_t ack = 0;
  read_all(fd, &ack, sizeof(ack));
  return ack;
}

// Sends `n` frames of `payload` bytes, `per_write` frames per write(); returns the seconds from
// the first write until the child's ack.
double one_way_seconds(uint64_t n, size_t payload, size_t per_write) {
  auto child = spawn_child([=](int fd) { count_frames(fd, payload, n); });
  std::vector<char> buf;
  fill_frames(buf, payload, 0, per_write);
  auto start = clock_type::now();
  for (uint64_t seq = 0; seq < n;) {
    size_t k = 0;
    for (; k < per_write && seq < n; ++k)
      set_seq(buf, payload, k, seq++);
    write_all(child.fd, buf.data(), k * (prefix_size + payload));
  }
  auto ack = await_ack(child.fd);
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  reap_child(child);
  if (ack != n)
    die_plain("receiver counted " + std::to_string(ack) + " frames, expected " + std::to_string(n));
  return elapsed.count();
}

// Echoes frames of `payload` bytes until the parent closes its end.
void echo_frames(int fd) {
  char frame[prefix_size + payload_size];
  for (;;) {
    auto r = ::read(fd, frame, sizeof(frame));
    if (r == 0)
      return;
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      _exit(2);
    if (static_cast<size_t>(r) < sizeof(frame))
      read_all(fd, frame + r, sizeof(frame) - static_cast<size_t>(r));
    write_all(fd, frame, sizeof(frame));
  }
}

// The CPU of the pinned round trip: the first one this process may run on.
int first_allowed_cpu() {
  cpu_set_t allowed;
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
    die("sched_getaffinity");
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed))
      return cpu;
  die_plain("no CPU allowed");
  return -1;
}

void pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (::sched_setaffinity(0, sizeof(one), &one) != 0)
    die("sched_setaffinity");
}

// Unpinned, a ping-pong between two processes is bimodal on this 2-vCPU VM: ~5 us when the
// two share a CPU or the other CPU is busy anyway, 40-80 us when each wakes the other on an idle
// vCPU (waking a halted vCPU costs the hypervisor a round of its own), and a whole run can stay
// in either mode: a quiet machine gives the slow one. Pinned, both processes on one CPU, it
// always takes the fast mode: the transport's floor, which the targets are set against. Both
// are printed.
double round_trip(bool quick, bool pinned) {
  cpu_set_t before;
  if (pinned) {
    if (::sched_getaffinity(0, sizeof(before), &before) != 0)
      die("sched_getaffinity");
    pin_to(first_allowed_cpu());  // the child inherits it
  }
  auto child = spawn_child(echo_frames);
  auto warmup = peers::round_trip_warmup(quick);
  auto timed = peers::round_trip_timed(quick);
  std::vector<double> samples;
  samples.reserve(timed);
  std::vector<char> frame;
  fill_frames(frame, payload_size, 0, 1);
  std::vector<char> echo(frame.size());
  for (uint64_t i = 0; i < warmup + timed; ++i) {
    set_seq(frame, payload_size, 0, i);
    auto start = clock_type::now();
    write_all(child.fd, frame.data(), frame.size());
    read_all(child.fd, echo.data(), echo.size());
    std::chrono::duration<double, std::micro> rtt = clock_type::now() - start;
    if (echo != frame)
      die_plain("echo returned the wrong frame");
    if (i >= warmup)
      samples.push_back(rtt.count());
  }
  reap_child(child);
  if (pinned && ::sched_setaffinity(0, sizeof(before), &before) != 0)
    die("sched_setaffinity");
  return peers::min_block_median(program, pinned ? "raw_socketpair_pinned" : "raw_socketpair",
                                 samples);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> metrics{"one_way_throughput", "round_trip"};
  for (auto& m : peers::bandwidth_metrics())
    metrics.push_back(m);
  auto opt = peers::parse_args(argc, argv, metrics);
  // A dead child must surface as EPIPE and a message, not a silent kill.
  ::signal(SIGPIPE, SIG_IGN);
  uint64_t frames = opt.quick ? 100'000 : 1'000'000;
  if (peers::wanted(opt, "one_way_throughput")) {
    auto n = static_cast<double>(frames);
    peers::emit(opt, "one_way_throughput", "raw_socketpair_1write",
                n / one_way_seconds(frames, payload_size, 1), "msgs/s");
    auto per_batch = batch_bytes / (prefix_size + payload_size);
    peers::emit(opt, "one_way_throughput", "raw_socketpair_batched",
                n / one_way_seconds(frames, payload_size, per_batch), "msgs/s");
  }
  if (peers::wanted(opt, "round_trip")) {
    peers::emit(opt, "round_trip", "raw_socketpair", round_trip(opt.quick, false), "us");
    peers::emit(opt, "round_trip", "raw_socketpair_pinned", round_trip(opt.quick, true), "us");
  }
  for (auto& size : peers::bandwidth_sizes()) {
    if (!peers::wanted(opt, size.metric))
      continue;
    auto n = peers::bandwidth_messages(size.bytes, opt.quick);
    auto seconds = one_way_seconds(n, size.bytes, 1);
    peers::emit(opt, size.metric, "raw_socketpair", peers::megabytes_per_s(n, size.bytes, seconds),
                "MB/s");
  }
  return 0;
}
