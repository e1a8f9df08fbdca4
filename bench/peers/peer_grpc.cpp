// peer_grpc: gRPC C++ (synchronous API, insecure credentials, HTTP/2 over TCP on 127.0.0.1)
// between two processes, no troupe: the round trip as one unary call at a time (impl
// grpc_unary), one-way throughput of 16-byte messages and one-way bandwidth per payload size as
// one client stream per measurement that the server acknowledges once at its end (impl
// grpc_stream). The binary re-executes itself (posix_spawn, `--role server`) as the server,
// which listens on a kernel-picked port and reports it through a pipe. Output: one JSON line per
// figure on stdout (see README.md).

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "peer_common.hpp"
#include "peer_grpc.grpc.pb.h"
#include "peer_round_trips.hpp"

extern char** environ;

namespace {

constexpr const char* program = "peer_grpc";

using clock_type = std::chrono::steady_clock;

constexpr size_t payload_size = 16;  // bench-spec.md: 8-byte sequence number + 8 bytes padding
constexpr size_t seq_size = sizeof(uint64_t);
constexpr auto call_timeout = std::chrono::seconds(10);    // one unary call
constexpr auto stream_timeout = std::chrono::seconds(30);  // one whole stream
constexpr auto child_start_timeout = std::chrono::seconds(10);
constexpr auto whole_run_timeout = std::chrono::seconds(120);

// ---- the server process --------------------------------------------------------------------

class bench_service final : public peer_grpc::Bench::Service {
public:
  grpc::Status Echo(grpc::ServerContext*, const peer_grpc::Payload* in,
                    peer_grpc::Payload* out) override {
    *out = *in;
    return grpc::Status::OK;
  }

  // Counts the messages that arrive in order with the first one's size; the client compares.
  grpc::Status Sink(grpc::ServerContext*, grpc::ServerReader<peer_grpc::Payload>* reader,
                    peer_grpc::Ack* ack) override {
    peer_grpc::Payload msg;
    uint64_t good = 0;
    size_t pad = 0;
    for (uint64_t i = 0; reader->Read(&msg); ++i) {
      if (i == 0)
        pad = msg.pad().size();
      if (msg.seq() == i && msg.pad().size() == pad)
        ++good;
    }
    ack->set_count(good);
    return grpc::Status::OK;
  }

  grpc::Status Quit(grpc::ServerContext*, const peer_grpc::Ack* in, peer_grpc::Ack* out) override {
    *out = *in;
    if (!quit_.exchange(true))
      quitting_.set_value();
    return grpc::Status::OK;
  }

  std::future<void> quitting() {
    return quitting_.get_future();
  }

private:
  std::atomic<bool> quit_{false};
  std::promise<void> quitting_;
};

int run_server(pid_t parent) {
  // Die with the parent even if it is SIGKILLed; the check closes the race with an early death.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent)
    return 1;
  bench_service service;
  auto quitting = service.quitting();
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0)
    peers::fail(program, "server: could not listen on 127.0.0.1");
  // stdout is the pipe to the parent here, not the driver's stdout.
  std::printf("%d\n", port);
  std::fflush(stdout);
  if (quitting.wait_for(whole_run_timeout) != std::future_status::ready)
    peers::fail(program, "server: the client never said quit");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

// ---- the server process, seen from the client ----------------------------------------------

std::atomic<pid_t> child_pid{-1};

std::string own_executable() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    peers::fail_errno(program, "readlink /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

// Spawns this binary as the server with its stdout on a pipe; returns the pipe's read end.
int spawn_server() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    peers::fail_errno(program, "pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);  // dup2 drops CLOEXEC
  auto parent = std::to_string(::getpid());
  auto exe = own_executable();
  std::vector<char*> args{exe.data(),
                          const_cast<char*>("--role"),
                          const_cast<char*>("server"),
                          const_cast<char*>("--parent-pid"),
                          parent.data(),
                          nullptr};
  pid_t pid = -1;
  auto rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    errno = rc;
    peers::fail_errno(program, "posix_spawn");
  }
  child_pid = pid;
  return fds[0];
}

int read_port(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(child_start_timeout).count();
  if (::poll(&pfd, 1, static_cast<int>(ms)) != 1)
    peers::fail(program, "the server did not report its port in time");
  char buf[32] = {};
  auto n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  auto port = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
  if (port <= 0 || port > 65535)
    peers::fail(program, "the server reported no port");
  return static_cast<int>(port);
}

void kill_child() {
  auto pid = child_pid.exchange(-1);
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

bool reap_child() {
  auto pid = child_pid.load();
  auto deadline = clock_type::now() + std::chrono::seconds(5);
  int status = 0;
  while (clock_type::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      child_pid = -1;
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill_child();
  return false;
}

// ---- the measurements ----------------------------------------------------------------------

void set_deadline(grpc::ClientContext& ctx, std::chrono::seconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

void check(const grpc::Status& status, const char* what) {
  if (!status.ok())
    peers::fail(program, std::string(what) + " failed: " + status.error_message());
}

// One unary call at a time, each with a deadline as ordinary client code sets one.
std::vector<double> round_trips_us(peer_grpc::Bench::Stub& stub, bool quick) {
  auto warmup = peers::round_trip_warmup(quick);
  auto timed = peers::round_trip_timed(quick);
  std::vector<double> samples;
  samples.reserve(timed);
  peer_grpc::Payload ping;
  peer_grpc::Payload pong;
  ping.set_pad(std::string(payload_size - seq_size, 'x'));
  for (uint64_t i = 0; i < warmup + timed; ++i) {
    ping.set_seq(i);
    auto start = clock_type::now();
    grpc::ClientContext ctx;
    set_deadline(ctx, call_timeout);
    auto status = stub.Echo(&ctx, ping, &pong);
    std::chrono::duration<double, std::micro> rtt = clock_type::now() - start;
    check(status, "Echo");
    if (pong.seq() != i || pong.pad() != ping.pad())
      peers::fail(program, "the echo returned the wrong message");
    if (i >= warmup)
      samples.push_back(rtt.count());
  }
  return samples;
}

// Seconds from opening a client stream of `n` messages of `bytes` payload until the server's
// ack. The stream is opened before the clock starts (the channel is already connected).
double one_way_seconds(peer_grpc::Bench::Stub& stub, uint64_t n, size_t bytes) {
  grpc::ClientContext ctx;
  set_deadline(ctx, stream_timeout);
  peer_grpc::Ack ack;
  auto writer = stub.Sink(&ctx, &ack);
  peer_grpc::Payload msg;
  msg.set_pad(std::string(bytes - seq_size, 'x'));
  // buffer_hint lets gRPC coalesce messages into fewer HTTP/2 frames and syscalls, as a user
  // streaming small messages for throughput would ask; WritesDone flushes the rest. Measured
  // here: 16-byte messages 2.2x faster than a plain Write (342k vs 156k msgs/s, quick runs).
  auto buffered = grpc::WriteOptions().set_buffer_hint();
  auto start = clock_type::now();
  for (uint64_t seq = 0; seq < n; ++seq) {
    msg.set_seq(seq);
    if (!writer->Write(msg, buffered))
      peers::fail(program, "the stream broke after " + std::to_string(seq) + " messages");
  }
  writer->WritesDone();
  check(writer->Finish(), "Sink");
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  if (ack.count() != n)
    peers::fail(program, "the server counted " + std::to_string(ack.count()) + " good of "
                             + std::to_string(n));
  return elapsed.count();
}

int run_client(const peers::options& opt) {
  peers::on_fail = kill_child;
  auto port = read_port(spawn_server());
  peers::start_watchdog(program, whole_run_timeout);
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + child_start_timeout))
    peers::fail(program, "could not connect to the server");
  auto stub = peer_grpc::Bench::NewStub(channel);
  if (peers::wanted(opt, "round_trip")) {
    auto samples = round_trips_us(*stub, opt.quick);
    peers::emit(opt, "round_trip", "grpc_unary",
                peers::min_block_median(program, "grpc_unary", samples), "us");
  }
  if (peers::wanted(opt, "one_way_throughput")) {
    uint64_t n = opt.quick ? 100'000 : 1'000'000;
    peers::emit(opt, "one_way_throughput", "grpc_stream",
                static_cast<double>(n) / one_way_seconds(*stub, n, payload_size), "msgs/s");
  }
  for (auto& size : peers::bandwidth_sizes()) {
    if (!peers::wanted(opt, size.metric))
      continue;
    auto n = peers::bandwidth_messages(size.bytes, opt.quick);
    auto seconds = one_way_seconds(*stub, n, size.bytes);
    peers::emit(opt, size.metric, "grpc_stream", peers::megabytes_per_s(n, size.bytes, seconds),
                "MB/s");
  }
  grpc::ClientContext ctx;
  set_deadline(ctx, call_timeout);
  peer_grpc::Ack bye;
  check(stub->Quit(&ctx, bye, &bye), "Quit");
  if (!reap_child())
    peers::fail(program, "the server process did not exit cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> metrics{"round_trip", "one_way_throughput"};
  for (auto& m : peers::bandwidth_metrics())
    metrics.push_back(m);
  auto opt = peers::parse_args(argc, argv, metrics, {"--role", "--parent-pid"});
  if (opt.rest.size() == 4 && opt.rest[0] == "--role" && opt.rest[1] == "server"
      && opt.rest[2] == "--parent-pid")
    return run_server(static_cast<pid_t>(std::stol(opt.rest[3])));
  if (!opt.rest.empty())
    peers::fail(program, "bad internal arguments");
  return run_client(opt);
}
