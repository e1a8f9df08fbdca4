// peer_caf_basp: raw CAF 0.17 remoting (BASP over TCP on 127.0.0.1) between two processes, no
// troupe: one-way throughput of small messages, bytes on the wire per message, and the
// request/response round trip (block method, peer_round_trips.hpp). The binary re-executes itself
// (posix_spawn) as the receiving process, which publishes one actor on a kernel-picked port and
// tells the parent via a pipe. Every figure is measured twice in one run: with CAF's default
// configuration (impl caf_basp) and tuned as troupe tunes its own actor systems (caf_basp_tuned:
// work-stealing.moderate-sleep-duration = 0 in both processes), which also gives the
// request_latency percentiles. Output: one JSON line per figure on stdout (see README.md).

#include <dirent.h>
#include <fcntl.h>
#include <linux/tcp.h>  // the kernel's tcp_info has tcpi_bytes_acked; glibc's copy lacks it
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "peer_common.hpp"
#include "peer_round_trips.hpp"

extern char** environ;

namespace {

constexpr const char* program = "peer_caf_basp";

using clock_type = std::chrono::steady_clock;
using data_atom = caf::atom_constant<caf::atom("data")>;
using credit_atom = caf::atom_constant<caf::atom("credit")>;
using fin_atom = caf::atom_constant<caf::atom("fin")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using go_atom = caf::atom_constant<caf::atom("go")>;
using quit_atom = caf::atom_constant<caf::atom("quit")>;

// Flow control for the one-way stream. Without it the sender enqueues all N messages in its own
// BASP broker long before the socket drains them (hundreds of MB for 1M messages), which measures
// the allocator rather than the transport. The receiver grants credit every `credit_every`
// messages; the sender keeps at most `window` unacknowledged. The window is wide enough
// (measured) that the stream never stalls on credit, so the figure is the transport's rate.
constexpr uint64_t credit_every = 10'000;
constexpr uint64_t window = 100'000;

constexpr auto request_timeout = std::chrono::seconds(10);
constexpr auto child_start_timeout = std::chrono::seconds(10);
constexpr auto whole_run_timeout = std::chrono::seconds(120);

// bench-spec.md's 16-byte payload: after the atom, a sequence number and 8 bytes of padding.
constexpr uint64_t padding = 0x7878787878787878;

// CAF's idle scheduler threads poll with 50 us sleeps (moderate-sleep-duration) before they wait
// on a condition variable, and new work does not wake a sleeping thread: every thread hop of a
// round trip can wait up to 50 us. troupe sets the sleep to 0 (messages/config.cpp), so the fair
// comparison is against BASP with the same setting, in both processes.
void configure(caf::actor_system_config& cfg, bool tuned) {
  cfg.load<caf::io::middleman>();
  if (tuned)
    cfg.set("work-stealing.moderate-sleep-duration", caf::timespan{0});
}

// ---- the receiving process -----------------------------------------------------------------

struct sink_state {
  uint64_t received = 0;
  uint64_t misordered = 0;
};

// One actor serves both measurements: it counts the stream (granting credit back to whoever
// sends it) and echoes pings. `fin` closes a stream and reports what arrived.
caf::behavior sink(caf::stateful_actor<sink_state>* self) {
  return {
      [=](data_atom, uint64_t seq, uint64_t) {
        auto& st = self->state;
        if (seq != st.received)
          ++st.misordered;
        if (++st.received % credit_every == 0)
          self->send(caf::actor_cast<caf::actor>(self->current_sender()), credit_atom::value,
                     st.received);
      },
      [=](fin_atom) {
        auto result = std::make_tuple(self->state.received, self->state.misordered);
        self->state = sink_state{};
        return result;
      },
      [](ping_atom, uint64_t seq, uint64_t pad) { return std::make_tuple(seq, pad); },
      // Answered, so the parent knows the request arrived before it tears its side down.
      [=](quit_atom) {
        self->quit();
        return true;
      },
  };
}

int run_receiver(pid_t parent, bool tuned) {
  // Die with the parent even if it is SIGKILLed; the check closes the race with an early death.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent)
    return 1;
  caf::actor_system_config cfg;
  configure(cfg, tuned);
  caf::actor_system sys{cfg};
  auto receiver = sys.spawn(sink);
  auto port = sys.middleman().publish(receiver, 0, "127.0.0.1");
  if (!port)
    peers::fail(program, "receiver: publish failed: " + sys.render(port.error()));
  // stdout is the pipe to the parent here, not the driver's stdout.
  std::printf("%u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  caf::scoped_actor self{sys};
  self->monitor(receiver);
  self->receive([](const caf::down_msg&) {});
  return 0;
}

// ---- the child process, seen from the parent -----------------------------------------------

std::atomic<pid_t> child_pid{-1};

// The real path rather than /proc/self/exe, so that the child shows up as peer_caf_basp in
// ps/pgrep instead of as "exe".
std::string own_executable() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    peers::fail_errno(program, "readlink /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

// Spawns this binary as the receiver with its stdout on a pipe; returns the pipe's read end.
int spawn_receiver(bool tuned) {
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
                          const_cast<char*>("receiver"),
                          const_cast<char*>("--parent-pid"),
                          parent.data(),
                          const_cast<char*>("--tuned"),
                          const_cast<char*>(tuned ? "1" : "0"),
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

uint16_t read_port(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(child_start_timeout).count();
  if (::poll(&pfd, 1, static_cast<int>(ms)) != 1)
    peers::fail(program, "receiver did not report its port in time");
  char buf[32] = {};
  auto n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  auto port = n > 0 ? std::strtoul(buf, nullptr, 10) : 0;
  if (port == 0 || port > 65535)
    peers::fail(program, "receiver reported no port");
  return static_cast<uint16_t>(port);
}

void kill_child() {
  auto pid = child_pid.exchange(-1);
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

// Gives the receiver a few seconds to quit on its own, then kills it; reports how it ended.
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

// ---- wire bytes ----------------------------------------------------------------------------

// ---- one-way throughput --------------------------------------------------------------------

struct stream_result {
  double msgs_per_s;
  double wire_bytes_per_msg;
};

void await_credit(caf::scoped_actor& self, uint64_t& acked) {
  self->receive([&](credit_atom, uint64_t n) { acked = n; },
                caf::after(request_timeout) >>
                    [] { peers::fail(program, "no credit from the receiver in time"); });
}

// Timed from the first send until the receiver's answer to `fin`, which it can only send after
// it processed every message (one TCP connection keeps the order).
stream_result one_way(caf::actor_system& sys, const caf::actor& remote, uint64_t n) {
  caf::scoped_actor self{sys};
  auto bytes_before = peers::tcp_bytes_acked_total(program);
  auto start = clock_type::now();
  uint64_t acked = 0;
  for (uint64_t seq = 0; seq < n; ++seq) {
    while (seq - acked >= window)
      await_credit(self, acked);
    self->send(remote, data_atom::value, seq, padding);
  }
  uint64_t received = 0;
  uint64_t misordered = 0;
  self->request(remote, request_timeout, fin_atom::value)
      .receive(
          [&](uint64_t count, uint64_t bad) {
            received = count;
            misordered = bad;
          },
          [&](caf::error& err) { peers::fail(program, "fin failed: " + sys.render(err)); });
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  auto bytes = peers::tcp_bytes_acked_total(program) - bytes_before;
  if (received != n || misordered != 0)
    peers::fail(program, "receiver got " + std::to_string(received) + " of " + std::to_string(n)
                             + " messages, " + std::to_string(misordered) + " out of order");
  return {static_cast<double>(n) / elapsed.count(),
          static_cast<double>(bytes) / static_cast<double>(n)};
}

// ---- round trip ----------------------------------------------------------------------------

struct rtt_run {
  uint64_t warmup = 0;
  uint64_t n = 0;
  std::vector<double> samples_us;  // only touched by the pinger, read after `done`
  std::promise<bool> done;         // false: a request failed
};

// One request at a time; each response schedules the next, so the stack never grows.
void ping_once(caf::event_based_actor* self, caf::actor remote, std::shared_ptr<rtt_run> run,
               uint64_t i) {
  if (i == run->warmup + run->n) {
    run->done.set_value(true);
    self->quit();
    return;
  }
  auto start = clock_type::now();
  self->request(remote, request_timeout, ping_atom::value, i, padding)
      .then(
          [=](uint64_t echoed, uint64_t pad) {
            std::chrono::duration<double, std::micro> rtt = clock_type::now() - start;
            if (echoed != i || pad != padding) {
              run->done.set_value(false);
              self->quit();
              return;
            }
            if (i >= run->warmup)
              run->samples_us.push_back(rtt.count());
            ping_once(self, remote, run, i + 1);
          },
          [=](caf::error& err) {
            std::fprintf(stderr, "%s: ping failed: %s\n", program,
                         self->system().render(err).c_str());
            run->done.set_value(false);
            self->quit();
          });
}

caf::behavior pinger(caf::event_based_actor* self, caf::actor remote,
                     std::shared_ptr<rtt_run> run) {
  return {
      [=](go_atom) { ping_once(self, remote, run, 0); },
  };
}

// Every timed sample in the order taken.
std::vector<double> round_trips_us(caf::actor_system& sys, const caf::actor& remote,
                                   uint64_t warmup, uint64_t n) {
  auto run = std::make_shared<rtt_run>();
  run->warmup = warmup;
  run->n = n;
  run->samples_us.reserve(n);
  auto done = run->done.get_future();
  caf::anon_send(sys.spawn(pinger, remote, run), go_atom::value);
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
    peers::fail(program, "round trips timed out");
  if (!done.get())
    peers::fail(program, "round trip failed");
  return std::move(run->samples_us);
}

// A plain send could still sit in our BASP broker when the actor system shuts down.
void stop_receiver(caf::actor_system& sys, const caf::actor& remote) {
  caf::scoped_actor self{sys};
  self->request(remote, request_timeout, quit_atom::value)
      .receive([](bool) {},
               [&](caf::error& err) {
                 peers::fail(program, "stopping the receiver failed: " + sys.render(err));
               });
}

// ---- driver --------------------------------------------------------------------------------

bool wants_round_trips(const peers::options& opt, bool tuned) {
  if (peers::wanted(opt, "round_trip"))
    return true;
  return tuned
         && (peers::wanted(opt, "request_latency_p50") || peers::wanted(opt, "request_latency_p99")
             || peers::wanted(opt, "request_latency_p999"));
}

// One receiver process and one actor system per configuration, so the two never share state.
void measure(const peers::options& opt, bool tuned) {
  const char* impl = tuned ? "caf_basp_tuned" : "caf_basp";
  uint64_t messages = opt.quick ? 100'000 : 1'000'000;
  bool want_stream =
      peers::wanted(opt, "one_way_throughput") || peers::wanted(opt, "wire_bytes_per_message");
  bool want_trips = wants_round_trips(opt, tuned);
  if (!want_stream && !want_trips)
    return;
  // Spawned from the main thread before CAF starts: PDEATHSIG fires when the spawning *thread*
  // exits, and the main thread lives as long as the process.
  auto port = read_port(spawn_receiver(tuned));
  {
    caf::actor_system_config cfg;
    configure(cfg, tuned);
    caf::actor_system sys{cfg};
    auto remote = sys.middleman().remote_actor("127.0.0.1", port);
    if (!remote)
      peers::fail(program, "remote_actor failed: " + sys.render(remote.error()));
    if (want_stream) {
      auto r = one_way(sys, *remote, messages);
      peers::emit(opt, "one_way_throughput", impl, r.msgs_per_s, "msgs/s");
      peers::emit(opt, "wire_bytes_per_message", impl, r.wire_bytes_per_msg, "bytes");
    }
    if (want_trips) {
      auto samples = round_trips_us(sys, *remote, peers::round_trip_warmup(opt.quick),
                                    peers::round_trip_timed(opt.quick));
      peers::emit(opt, "round_trip", impl, peers::min_block_median(program, impl, samples), "us");
      if (tuned) {
        peers::emit(opt, "request_latency_p50", impl, peers::quantile(samples, 0.5), "us");
        peers::emit(opt, "request_latency_p99", impl, peers::quantile(samples, 0.99), "us");
        peers::emit(opt, "request_latency_p999", impl, peers::quantile(samples, 0.999), "us");
      }
    }
    stop_receiver(sys, *remote);
  }
  if (!reap_child())
    peers::fail(program, "receiver process did not exit cleanly");
}

int run_driver(const peers::options& opt) {
  peers::on_fail = kill_child;
  peers::start_watchdog(program, whole_run_timeout);
  measure(opt, false);
  measure(opt, true);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto opt =
      peers::parse_args(argc, argv,
                        {"one_way_throughput", "wire_bytes_per_message", "round_trip",
                         "request_latency_p50", "request_latency_p99", "request_latency_p999"},
                        {"--role", "--parent-pid", "--tuned"});
  if (opt.rest.size() == 6 && opt.rest[0] == "--role" && opt.rest[1] == "receiver"
      && opt.rest[2] == "--parent-pid" && opt.rest[4] == "--tuned")
    return run_receiver(static_cast<pid_t>(std::stol(opt.rest[3])), opt.rest[5] == "1");
  if (!opt.rest.empty())
    peers::fail(program, "bad internal arguments");
  return run_driver(opt);
}
