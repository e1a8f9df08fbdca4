// peer_zmq: ZeroMQ (libzmq's C API) between two processes, no troupe: the round trip over a PAIR
// socket, one-way throughput of 16-byte messages over PUSH/PULL, and one-way bandwidth per
// payload size over PUSH/PULL; each over ipc:// (impl zmq_ipc) and tcp://127.0.0.1 (zmq_tcp).
// Per transport the parent forks a child before either process has a ZeroMQ context (libzmq
// starts threads, so nothing is forked after one exists); the child binds, reports its endpoints
// through a pipe and then obeys commands on its PAIR socket. Output: one JSON line per figure on
// stdout (see README.md).
//
// Configuration, chosen as a ZeroMQ user would for speed: one I/O thread per context (the
// default; one connection needs no more), ZMQ_IMMEDIATE off (the default), the default high-water
// marks of 1,000 messages per side (100,000 showed no gain for 16-byte messages in 6 runs here),
// plain zmq_send (a copy into the message) below 64 KiB and zero-copy zmq_msg_init_data from a
// pool of buffers from 64 KiB on (measured: zero-copy roughly doubled 64 KiB and 1 MiB bandwidth
// and cut 4 KiB's by 2-3x, on a loaded machine). The receiver uses zmq_msg_recv, which hands over
// libzmq's buffer without a copy.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "peer_common.hpp"
#include "peer_round_trips.hpp"

namespace {

constexpr const char* program = "peer_zmq";

using clock_type = std::chrono::steady_clock;

constexpr size_t payload_size = 16;  // bench-spec.md: 8-byte sequence number + 8 bytes padding
constexpr int socket_timeout_ms = 10'000;  // any single send or receive; a hang is a failure
constexpr int child_timeout_s = 60;        // a child never outlives a stuck parent by more
constexpr auto child_start_timeout = std::chrono::seconds(10);
constexpr auto whole_run_timeout = std::chrono::seconds(120);

struct transport {
  const char* impl;
  bool ipc;
};

// The child's orders, sent on the PAIR socket.
enum class op : uint64_t { echo = 1, sink = 2, quit = 3 };

struct command {
  op what;
  uint64_t count;  // messages to echo or to receive
  uint64_t bytes;  // payload size of each (sink)
};

[[noreturn]] void zmq_fail(const std::string& what) {
  peers::fail(program, what + ": " + zmq_strerror(zmq_errno()));
}

void set_int(void* socket, int option, int value) {
  if (zmq_setsockopt(socket, option, &value, sizeof(value)) != 0)
    zmq_fail("zmq_setsockopt");
}

// Every socket gets bounded sends and receives and a bounded linger at close.
void* make_socket(void* ctx, int type) {
  auto s = zmq_socket(ctx, type);
  if (s == nullptr)
    zmq_fail("zmq_socket");
  set_int(s, ZMQ_SNDTIMEO, socket_timeout_ms);
  set_int(s, ZMQ_RCVTIMEO, socket_timeout_ms);
  set_int(s, ZMQ_LINGER, 1000);
  return s;
}

void send_all(void* socket, const void* buf, size_t len, const char* what) {
  for (;;) {
    if (zmq_send(socket, buf, len, 0) == static_cast<int>(len))
      return;
    if (zmq_errno() != EINTR)
      zmq_fail(std::string("send ") + what);
  }
}

// Receives into `buf`; returns the message's full size (larger than `len` means truncated).
size_t recv_some(void* socket, void* buf, size_t len, const char* what) {
  for (;;) {
    auto n = zmq_recv(socket, buf, len, 0);
    if (n >= 0)
      return static_cast<size_t>(n);
    if (zmq_errno() != EINTR)
      zmq_fail(std::string("receive ") + what);
  }
}

std::string last_endpoint(void* socket) {
  char buf[256] = {};
  size_t len = sizeof(buf);
  if (zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, buf, &len) != 0)
    zmq_fail("ZMQ_LAST_ENDPOINT");
  return buf;
}

// ---- the child -------------------------------------------------------------------------------

// Receives `count` messages of `bytes` on `data`, checking each one's size and sequence number,
// then acks on `ctl` with the count.
void sink(void* ctl, void* data, uint64_t count, uint64_t bytes) {
  zmq_msg_t msg;
  zmq_msg_init(&msg);
  for (uint64_t i = 0; i < count; ++i) {
    if (zmq_msg_recv(&msg, data, 0) < 0) {
      if (zmq_errno() == EINTR) {
        --i;
        continue;
      }
      zmq_fail("child: receive data");
    }
    uint64_t seq = 0;
    if (zmq_msg_size(&msg) != bytes)
      peers::fail(program, "child: a message of the wrong size");
    std::memcpy(&seq, zmq_msg_data(&msg), sizeof(seq));
    if (seq != i)
      peers::fail(program, "child: message " + std::to_string(seq) + " where " + std::to_string(i)
                               + " was due");
  }
  zmq_msg_close(&msg);
  send_all(ctl, &count, sizeof(count), "ack");
}

void echo(void* ctl, uint64_t count) {
  char buf[payload_size];
  for (uint64_t i = 0; i < count; ++i) {
    if (recv_some(ctl, buf, sizeof(buf), "ping") != sizeof(buf))
      peers::fail(program, "child: a ping of the wrong size");
    send_all(ctl, buf, sizeof(buf), "pong");
  }
}

int run_child(const transport& t, int report_fd) {
  auto ctx = zmq_ctx_new();
  auto ctl = make_socket(ctx, ZMQ_PAIR);
  auto data = make_socket(ctx, ZMQ_PULL);
  // ipc:// in Linux's abstract socket namespace ("@"): an AF_UNIX socket like any other, but no
  // file is left behind when a run is killed.
  std::string ipc_base = "ipc://@peer_zmq." + std::to_string(::getpid());
  std::string ctl_at = t.ipc ? ipc_base + ".ctl" : "tcp://127.0.0.1:*";
  std::string data_at = t.ipc ? ipc_base + ".data" : "tcp://127.0.0.1:*";
  if (zmq_bind(ctl, ctl_at.c_str()) != 0 || zmq_bind(data, data_at.c_str()) != 0)
    zmq_fail("child: bind");
  auto line = last_endpoint(ctl) + " " + last_endpoint(data) + "\n";
  if (::write(report_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    peers::fail_errno(program, "child: report endpoints");
  ::close(report_fd);
  for (bool running = true; running;) {
    command cmd{};
    if (recv_some(ctl, &cmd, sizeof(cmd), "command") != sizeof(cmd))
      peers::fail(program, "child: a malformed command");
    switch (cmd.what) {
      case op::echo:
        echo(ctl, cmd.count);
        break;
      case op::sink:
        sink(ctl, data, cmd.count, cmd.bytes);
        break;
      case op::quit:
        running = false;
        send_all(ctl, &cmd.count, sizeof(cmd.count), "quit ack");
        break;
      default:
        peers::fail(program, "child: an unknown command");
    }
  }
  zmq_close(data);
  zmq_close(ctl);
  zmq_ctx_term(ctx);
  return 0;
}

// ---- the parent ------------------------------------------------------------------------------

pid_t child_pid = -1;

void kill_child() {
  if (child_pid > 0) {
    ::kill(child_pid, SIGKILL);
    ::waitpid(child_pid, nullptr, 0);
    child_pid = -1;
  }
}

// Forks the child for `t`; returns the read end of the pipe it reports its endpoints on.
int fork_child(const transport& t) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    peers::fail_errno(program, "pipe2");
  std::fflush(stdout);  // never let the child flush a copy of our pending output
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0)
    peers::fail_errno(program, "fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      _exit(1);
    ::alarm(child_timeout_s);
    peers::on_fail = nullptr;
    ::close(fds[0]);
    _exit(run_child(t, fds[1]));
  }
  child_pid = pid;
  ::close(fds[1]);
  return fds[0];
}

std::pair<std::string, std::string> read_endpoints(int fd) {
  std::string line;
  auto deadline = clock_type::now() + child_start_timeout;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    pollfd pfd{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) != 1)
      peers::fail(program, "the child did not report its endpoints in time");
    char buf[256];
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      peers::fail(program, "the child died before reporting its endpoints");
    line.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto space = line.find(' ');
  return {line.substr(0, space), line.substr(space + 1, line.find('\n') - space - 1)};
}

void reap_child() {
  auto deadline = clock_type::now() + std::chrono::seconds(5);
  int status = 0;
  for (;;) {
    auto r = ::waitpid(child_pid, &status, WNOHANG);
    if (r == child_pid)
      break;
    if (r < 0)
      peers::fail_errno(program, "waitpid");
    if (clock_type::now() > deadline)
      peers::fail(program, "the child did not exit in time");
    ::usleep(1000);
  }
  child_pid = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    peers::fail(program, "the child failed (status " + std::to_string(status) + ")");
}

struct session {
  void* ctx;
  void* ctl;   // PAIR: commands, acks and the round trip
  void* data;  // PUSH: the one-way streams
};

void order(const session& s, op what, uint64_t count, uint64_t bytes = 0) {
  command cmd{what, count, bytes};
  send_all(s.ctl, &cmd, sizeof(cmd), "command");
}

uint64_t await_ack(const session& s) {
  uint64_t ack = 0;
  if (recv_some(s.ctl, &ack, sizeof(ack), "ack") != sizeof(ack))
    peers::fail(program, "a malformed ack");
  return ack;
}

std::vector<double> round_trips_us(const session& s, bool quick) {
  auto warmup = peers::round_trip_warmup(quick);
  auto timed = peers::round_trip_timed(quick);
  order(s, op::echo, warmup + timed);
  std::vector<double> samples;
  samples.reserve(timed);
  char ping[payload_size];
  char pong[payload_size];
  std::memset(ping, 'x', sizeof(ping));
  for (uint64_t i = 0; i < warmup + timed; ++i) {
    std::memcpy(ping, &i, sizeof(i));
    auto start = clock_type::now();
    send_all(s.ctl, ping, sizeof(ping), "ping");
    auto n = recv_some(s.ctl, pong, sizeof(pong), "pong");
    std::chrono::duration<double, std::micro> rtt = clock_type::now() - start;
    if (n != sizeof(pong) || std::memcmp(ping, pong, sizeof(ping)) != 0)
      peers::fail(program, "the echo returned the wrong message");
    if (i >= warmup)
      samples.push_back(rtt.count());
  }
  return samples;
}

// Zero-copy sending: libzmq owns a message's buffer until its I/O thread has written it and calls
// the free function, so the sender cycles through a pool and waits (bounded) for a buffer that
// libzmq has released. The pool also bounds the messages in flight to its size.
class buffer_pool {
public:
  buffer_pool(size_t count, size_t bytes) : slots_(count) {
    for (auto& slot : slots_)
      slot.data.assign(bytes, 'x');
  }

  ~buffer_pool() {
    for (auto& slot : slots_)
      await(slot);
  }

  // Sends message `seq` from the next buffer without copying it.
  void send(void* socket, uint64_t seq) {
    auto& slot = slots_[seq % slots_.size()];
    await(slot);
    slot.busy.store(true, std::memory_order_relaxed);
    std::memcpy(slot.data.data(), &seq, sizeof(seq));
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, slot.data.data(), slot.data.size(), release, &slot) != 0)
      zmq_fail("zmq_msg_init_data");
    while (zmq_msg_send(&msg, socket, 0) < 0) {
      if (zmq_errno() != EINTR)
        zmq_fail("send data");
    }
  }

private:
  struct slot {
    std::vector<char> data;
    std::atomic<bool> busy{false};
  };

  static void release(void*, void* hint) {
    static_cast<slot*>(hint)->busy.store(false, std::memory_order_release);
  }

  static void await(slot& s) {
    auto deadline = clock_type::now() + std::chrono::milliseconds(socket_timeout_ms);
    while (s.busy.load(std::memory_order_acquire)) {
      if (clock_type::now() > deadline)
        peers::fail(program, "libzmq did not release a sent buffer in time");
      std::this_thread::yield();
    }
  }

  std::vector<slot> slots_;
};

constexpr size_t zero_copy_from = 64 * 1024;
constexpr size_t zero_copy_buffers = 32;

// Seconds from the first send of `n` messages of `bytes` until the child's ack.
double one_way_seconds(const session& s, uint64_t n, size_t bytes) {
  order(s, op::sink, n, bytes);
  std::vector<char> buf(bytes < zero_copy_from ? bytes : 0, 'x');
  std::unique_ptr<buffer_pool> pool;
  if (bytes >= zero_copy_from)
    pool = std::make_unique<buffer_pool>(zero_copy_buffers, bytes);
  auto start = clock_type::now();
  for (uint64_t seq = 0; seq < n; ++seq) {
    if (pool) {
      pool->send(s.data, seq);
      continue;
    }
    std::memcpy(buf.data(), &seq, sizeof(seq));
    send_all(s.data, buf.data(), buf.size(), "data");
  }
  auto ack = await_ack(s);
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  if (ack != n)
    peers::fail(program, "the child counted " + std::to_string(ack) + " of " + std::to_string(n));
  return elapsed.count();
}

void measure(const peers::options& opt, const transport& t) {
  auto endpoints = read_endpoints(fork_child(t));
  session s{zmq_ctx_new(), nullptr, nullptr};
  s.ctl = make_socket(s.ctx, ZMQ_PAIR);
  s.data = make_socket(s.ctx, ZMQ_PUSH);
  if (zmq_connect(s.ctl, endpoints.first.c_str()) != 0
      || zmq_connect(s.data, endpoints.second.c_str()) != 0)
    zmq_fail("connect");
  if (peers::wanted(opt, "round_trip")) {
    auto samples = round_trips_us(s, opt.quick);
    peers::emit(opt, "round_trip", t.impl, peers::min_block_median(program, t.impl, samples), "us");
  }
  if (peers::wanted(opt, "one_way_throughput")) {
    uint64_t n = opt.quick ? 100'000 : 1'000'000;
    peers::emit(opt, "one_way_throughput", t.impl,
                static_cast<double>(n) / one_way_seconds(s, n, payload_size), "msgs/s");
  }
  for (auto& size : peers::bandwidth_sizes()) {
    if (!peers::wanted(opt, size.metric))
      continue;
    auto n = peers::bandwidth_messages(size.bytes, opt.quick);
    auto seconds = one_way_seconds(s, n, size.bytes);
    peers::emit(opt, size.metric, t.impl, peers::megabytes_per_s(n, size.bytes, seconds), "MB/s");
  }
  order(s, op::quit, 0);
  await_ack(s);
  zmq_close(s.data);
  zmq_close(s.ctl);
  // No context may exist at the next fork: the next child must start without libzmq's threads.
  zmq_ctx_term(s.ctx);
  reap_child();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> metrics{"round_trip", "one_way_throughput"};
  for (auto& m : peers::bandwidth_metrics())
    metrics.push_back(m);
  auto opt = peers::parse_args(argc, argv, metrics);
  ::signal(SIGPIPE, SIG_IGN);
  peers::on_fail = kill_child;
  peers::start_watchdog(program, whole_run_timeout);
  for (auto& t : {transport{"zmq_ipc", true}, transport{"zmq_tcp", false}})
    measure(opt, t);
  return 0;
}
