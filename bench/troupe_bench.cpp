// troupe_bench: troupe's cross-process figures for bench/run.py to set beside the peers': actor
// to actor one-way throughput and round trips over a socketpair worker and a TCP (--join)
// worker, the process pool with tiny and CPU-bound tasks, pool start-up, idle worker memory and
// bytes on the wire. A troupe::program: the same binary runs the workers. Output: one JSON line
// per figure on stdout, as the peers print (bench/README.md).

#include <dirent.h>
#include <linux/tcp.h>  // the kernel's tcp_info has tcpi_bytes_acked; glibc's copy lacks it
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <future>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "peers/peer_common.hpp"
#include "round_trip.hpp"
#include "troupe/bench/bench.pb.h"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/run.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::bench::Count;
using troupe::bench::Credit;
using troupe::bench::Fin;
using troupe::bench::Item;
using troupe::bench::Ping;
using troupe::bench::Range;

constexpr const char* program = "troupe_bench";
using clock_type = std::chrono::steady_clock;

// The BASP peer's flow control, so that both streams are limited by the transport alone: the
// receiver grants credit every `credit_every` items, the sender keeps at most `window` unacked.
constexpr uint64_t credit_every = 10'000;
constexpr uint64_t window = 100'000;

constexpr auto request_timeout = 10s;
constexpr auto worker_start_timeout = 30s;
constexpr auto whole_run_timeout = 240s;

// The Python peer's full size and its known count, so that a broken counter cannot pass as a
// fast one. Quick mode counts to the same limit: below 500,000 (Python's quick size) a range
// takes about 3 ms in C++, too little for a speedup to say anything about the pool.
constexpr uint64_t prime_limit = 2'000'000;
constexpr int64_t primes_below_limit = 148'933;
constexpr size_t prime_ranges = 16;

const std::vector<std::string> known_metrics = {
    "one_way_throughput",         "round_trip",
    "wire_bytes_per_message",     "pool_map_tiny",
    "pool_apply_async_tiny",      "cpu_primes_1_worker",
    "cpu_primes_2_workers",       "cpu_speedup_2_workers",
    "pool_start_to_first_result", "idle_worker_rss",
};

// Filled from the command line before main runs (troupe::run parses it).
peers::options opt;

template <class... Metrics>
bool any_wanted(Metrics... metrics) {
  return (peers::wanted(opt, metrics) || ...);
}

[[noreturn]] void fail(const std::string& what) {
  peers::fail(program, what);
}

// ---- what the worker processes run ----------------------------------------------------------

struct sink_state {
  uint64_t received = 0;
  uint64_t misordered = 0;
};

// Counts a stream (granting credit to whoever sends it), answers Fin with the count, echoes
// pings: the counterpart of the BASP peer's receiver.
caf::behavior sink(caf::stateful_actor<sink_state>* self) {
  return {
      [self](const Item& item) {
        auto& st = self->state;
        if (item.seq() != st.received)
          ++st.misordered;
        if (++st.received % credit_every == 0) {
          Credit credit;
          credit.set_received(st.received);
          self->send(caf::actor_cast<caf::actor>(self->current_sender()), credit);
        }
      },
      [self](const Fin&) {
        Count count;
        count.set_received(self->state.received);
        count.set_misordered(self->state.misordered);
        self->state = sink_state{};
        return count;
      },
      [](const Ping& ping) { return ping; },
  };
}

int64_t square(int64_t x) {
  return x * x;
}

// Exactly the Python peer's count_primes: trial division by odd d while d * d <= n.
int64_t count_primes(const Range& range) {
  int64_t count = 0;
  for (uint64_t n = range.lo(); n < range.hi(); ++n) {
    if (n < 2)
      continue;
    if (n % 2 == 0) {
      count += n == 2;
      continue;
    }
    bool prime = true;
    for (uint64_t d = 3; d * d <= n; d += 2) {
      if (n % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime;
  }
  return count;
}

void setup(troupe::config& cfg) {
  cfg.add_messages<Item, Credit, Fin, Count, Ping, Range>();
  cfg.add_actor_type("sink", sink);
  cfg.tasks().add("square", square).add("count_primes", count_primes);
}

// ---- processes the head starts --------------------------------------------------------------

std::atomic<pid_t> tcp_worker_pid{-1};

void kill_tcp_worker() {
  auto pid = tcp_worker_pid.exchange(-1);
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

// This program as a worker node joining over TCP, the way a user starts one on another host.
// Forked from the main thread, so PR_SET_PDEATHSIG ties it to this process's lifetime.
pid_t start_tcp_worker(uint16_t port) {
  // The head listens through node.listen, without a secret: the worker leaves its cookie out.
  std::vector<std::string> args{troupe::node::executable(),
                                "--join",
                                "127.0.0.1:" + std::to_string(port),
                                "--join-timeout",
                                "5",
                                "--log-level",
                                "warn",
                                "--insecure-loopback"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0)
    peers::fail_errno(program, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: the parent has threads.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  tcp_worker_pid = pid;
  return pid;
}

// SIGTERM ends a worker node at once (troupe::run); SIGKILL if it does not.
void stop_tcp_worker() {
  auto pid = tcp_worker_pid.load();
  if (pid <= 0)
    return;
  ::kill(pid, SIGTERM);
  auto deadline = clock_type::now() + 5s;
  while (clock_type::now() < deadline) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      tcp_worker_pid = -1;
      return;
    }
    std::this_thread::sleep_for(5ms);
  }
  kill_tcp_worker();
}

troupe::peer await_tcp_peer(troupe::node& node) {
  auto deadline = clock_type::now() + worker_start_timeout;
  while (clock_type::now() < deadline) {
    for (auto& p : node.peers())
      if (!p.child)
        return p;
    std::this_thread::sleep_for(2ms);
  }
  fail("the TCP worker did not join in time");
}

troupe::peer start_child_worker(troupe::node& node) {
  auto w = node.start_worker(worker_start_timeout);
  if (!w)
    fail("cannot start a worker process: " + troupe::describe(w.error()));
  return *w;
}

caf::actor spawn_sink(troupe::node& node, const troupe::peer& where) {
  auto actor = node.spawn_on(where, "sink");
  if (!actor)
    fail("cannot spawn the sink on " + where.name + ": " + troupe::describe(actor.error()));
  return *actor;
}

// ---- wire bytes -----------------------------------------------------------------------------

// ---- one-way throughput ---------------------------------------------------------------------

struct stream_result {
  double msgs_per_s;
  double wire_bytes_per_msg;  // meaningful over TCP only
};

void await_credit(caf::scoped_actor& self, uint64_t& acked) {
  self->receive([&](const Credit& credit) { acked = credit.received(); },
                caf::after(request_timeout) >> [] { fail("no credit from the sink in time"); });
}

// Timed from the first send until the sink's answer to Fin, which it can only give after
// processing every item (one connection keeps the order).
stream_result one_way(caf::actor_system& sys, const caf::actor& remote, uint64_t n) {
  caf::scoped_actor self{sys};
  Item item;
  item.set_pad0(1);  // non-zero, or Protobuf would not send the padding at all
  item.set_pad1(2);
  item.set_pad2(3);
  auto bytes_before = peers::tcp_bytes_acked_total(program);
  auto start = clock_type::now();
  uint64_t acked = 0;
  for (uint64_t seq = 0; seq < n; ++seq) {
    while (seq - acked >= window)
      await_credit(self, acked);
    item.set_seq(seq);
    self->send(remote, item);
  }
  Count count;
  self->request(remote, request_timeout, Fin{})
      .receive([&](const Count& c) { count = c; },
               [&](caf::error& err) { fail("Fin failed: " + troupe::describe(err)); });
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  auto bytes = peers::tcp_bytes_acked_total(program) - bytes_before;
  if (count.received() != n || count.misordered() != 0)
    fail("the sink got " + std::to_string(count.received()) + " of " + std::to_string(n)
         + " items, " + std::to_string(count.misordered()) + " out of order");
  return {static_cast<double>(n) / elapsed.count(),
          static_cast<double>(bytes) / static_cast<double>(n)};
}

// ---- the transports -------------------------------------------------------------------------

struct sizes {
  uint64_t messages;
  uint64_t trips;
  uint64_t apply_async_tasks;
};

sizes pick_sizes() {
  if (opt.quick)
    return {100'000, 2'000, 2'000};
  return {1'000'000, 10'000, 20'000};
}

void bench_socketpair(troupe::node& node, const sizes& n) {
  auto worker = start_child_worker(node);
  auto remote = spawn_sink(node, worker);
  if (peers::wanted(opt, "one_way_throughput"))
    peers::emit(opt, "one_way_throughput", "troupe_socketpair",
                one_way(node.system(), remote, n.messages).msgs_per_s, "msgs/s");
  if (peers::wanted(opt, "round_trip"))
    peers::emit(opt, "round_trip", "troupe_socketpair",
                round_trip::median_us(node.system(), remote, n.trips, program), "us");
  auto status = node.stop_worker(worker);
  if (!status || *status != 0)
    fail("the socketpair worker did not exit cleanly");
}

void bench_tcp(troupe::node& node, const sizes& n) {
  auto port = node.listen("127.0.0.1", 0);
  if (!port)
    fail("cannot listen: " + troupe::describe(port.error()));
  start_tcp_worker(*port);
  auto worker = await_tcp_peer(node);
  auto remote = spawn_sink(node, worker);
  if (any_wanted("one_way_throughput", "wire_bytes_per_message")) {
    auto r = one_way(node.system(), remote, n.messages);
    peers::emit(opt, "one_way_throughput", "troupe_tcp", r.msgs_per_s, "msgs/s");
    peers::emit(opt, "wire_bytes_per_message", "troupe_tcp", r.wire_bytes_per_msg, "bytes");
  }
  if (peers::wanted(opt, "round_trip"))
    peers::emit(opt, "round_trip", "troupe_tcp",
                round_trip::median_us(node.system(), remote, n.trips, program), "us");
  stop_tcp_worker();
}

// ---- the process pool -----------------------------------------------------------------------

troupe::pool_options pool_of(size_t workers) {
  troupe::pool_options o;
  o.workers = workers;
  o.use_joined_workers = false;  // only the processes each measurement starts for itself
  return o;
}

void await_workers(troupe::process_pool& pool, size_t n) {
  if (!pool.wait_for_workers(n, worker_start_timeout))
    fail("the pool's " + std::to_string(n) + " workers did not start in time");
}

// The Python peer's warm-up: map(square, range(16)) before anything is timed.
void warm_up(troupe::process_pool& pool) {
  std::vector<int64_t> inputs(16);
  std::iota(inputs.begin(), inputs.end(), 0);
  pool.map(square, inputs);
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double map_tiny(troupe::process_pool& pool, size_t n) {
  std::vector<int64_t> inputs(n);
  std::iota(inputs.begin(), inputs.end(), 0);
  auto start = clock_type::now();
  auto out = pool.map(square, inputs);  // automatic chunking, as Python's default chunksize
  auto elapsed = seconds_since(start);
  auto last = static_cast<int64_t>(n) - 1;
  if (out.size() != n || out.back() != last * last)
    fail("pool.map returned a wrong result");
  return static_cast<double>(n) / elapsed;
}

// Timed until the last callback ran, as the Python peer's.
double apply_async_tiny(troupe::process_pool& pool, uint64_t n) {
  std::atomic<uint64_t> called{0};
  std::promise<void> all_called;
  auto all = all_called.get_future();
  std::vector<troupe::future<int64_t>> futures;
  futures.reserve(n);
  auto start = clock_type::now();
  for (uint64_t i = 0; i < n; ++i)
    futures.push_back(pool.apply_async(square, static_cast<int64_t>(i), [&](int64_t) {
      if (called.fetch_add(1) + 1 == n)
        all_called.set_value();
    }));
  if (all.wait_for(60s) != std::future_status::ready)
    fail("apply_async: only " + std::to_string(called.load()) + " of " + std::to_string(n)
         + " callbacks ran");
  auto elapsed = seconds_since(start);
  for (auto& f : futures)
    if (f.error())
      fail("apply_async failed: " + troupe::describe(f.error()));
  return static_cast<double>(n) / elapsed;
}

void bench_pool_tiny(troupe::node& node, const sizes& n) {
  troupe::process_pool pool{node, pool_of(2)};
  await_workers(pool, 2);
  warm_up(pool);
  if (peers::wanted(opt, "pool_map_tiny"))
    // 200,000 in quick mode too, like the Python peer: the per-task rate depends on n.
    peers::emit(opt, "pool_map_tiny", "troupe", map_tiny(pool, 200'000), "tasks/s");
  if (peers::wanted(opt, "pool_apply_async_tiny"))
    peers::emit(opt, "pool_apply_async_tiny", "troupe", apply_async_tiny(pool, n.apply_async_tasks),
                "tasks/s");
}

std::vector<Range> make_prime_ranges(uint64_t limit) {
  std::vector<Range> ranges(prime_ranges);
  for (size_t k = 0; k < prime_ranges; ++k) {
    ranges[k].set_lo(k * limit / prime_ranges);
    ranges[k].set_hi((k + 1) * limit / prime_ranges);
  }
  return ranges;
}

double time_primes(troupe::node& node, size_t workers) {
  troupe::process_pool pool{node, pool_of(workers)};
  await_workers(pool, workers);
  warm_up(pool);
  auto ranges = make_prime_ranges(prime_limit);
  auto start = clock_type::now();
  auto counts = pool.map(count_primes, ranges, 1);
  auto elapsed = seconds_since(start);
  auto total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  if (total != primes_below_limit)
    fail("counted " + std::to_string(total) + " primes below " + std::to_string(prime_limit)
         + ", expected " + std::to_string(primes_below_limit));
  return elapsed;
}

void bench_primes(troupe::node& node) {
  auto one = time_primes(node, 1);
  auto two = time_primes(node, 2);
  peers::emit(opt, "cpu_primes_1_worker", "troupe", one, "s");
  peers::emit(opt, "cpu_primes_2_workers", "troupe", two, "s");
  peers::emit(opt, "cpu_speedup_2_workers", "troupe", one / two, "x");
}

// ---- costs ----------------------------------------------------------------------------------

// From the pool's construction to the first result, worker processes' start-up included.
double start_to_first_result_ms(troupe::node& node) {
  auto start = clock_type::now();
  troupe::process_pool pool{node, pool_of(2)};
  auto first = pool.apply_async(square, int64_t{3});
  if (!first.wait_for(worker_start_timeout))
    fail("no first result from a new pool in time");
  auto elapsed = seconds_since(start);
  if (first.error() || first.result() != 9)
    fail("the new pool's first result is wrong");
  return elapsed * 1000.0;
}

// A field in kB of a /proc/PID file ("VmRSS:   7340 kB").
double proc_kib(uint32_t pid, const char* file, const std::string& field) {
  auto path = "/proc/" + std::to_string(pid) + "/" + file;
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::stod(line.substr(field.size() + 1));
  fail("no " + field + " in " + path);
}

// A worker process that finished starting and sits idle, as a pool keeps it between tasks.
double idle_worker_rss_mib(troupe::node& node) {
  auto worker = start_child_worker(node);
  std::this_thread::sleep_for(opt.quick ? 200ms : 500ms);
  auto pid = worker.process_id;
  auto rss = proc_kib(pid, "status", "VmRSS");
  // The split tells whether shared library pages or the process's own memory dominate; Pss
  // charges shared pages pro rata, i.e. what one more worker really costs.
  std::fprintf(stderr,
               "%s: idle worker: VmRSS %.0f kB = RssAnon %.0f + RssFile %.0f; Pss %.0f "
               "kB; %.0f threads\n",
               program, rss, proc_kib(pid, "status", "RssAnon"), proc_kib(pid, "status", "RssFile"),
               proc_kib(pid, "smaps_rollup", "Pss"), proc_kib(pid, "status", "Threads"));
  node.stop_worker(worker);
  return rss / 1024.0;
}

// ---- the head -------------------------------------------------------------------------------

int run_benchmarks(troupe::node& node, const troupe::head_options&) {
  peers::on_fail = kill_tcp_worker;
  peers::start_watchdog(program, whole_run_timeout);
  auto n = pick_sizes();
  // Start-up first, while nothing else has run in this process.
  if (peers::wanted(opt, "pool_start_to_first_result"))
    peers::emit(opt, "pool_start_to_first_result", "troupe", start_to_first_result_ms(node), "ms");
  if (peers::wanted(opt, "idle_worker_rss"))
    peers::emit(opt, "idle_worker_rss", "troupe", idle_worker_rss_mib(node), "MiB");
  if (any_wanted("one_way_throughput", "round_trip"))
    bench_socketpair(node, n);
  if (any_wanted("one_way_throughput", "round_trip", "wire_bytes_per_message"))
    bench_tcp(node, n);
  if (any_wanted("pool_map_tiny", "pool_apply_async_tiny"))
    bench_pool_tiny(node, n);
  if (any_wanted("cpu_primes_1_worker", "cpu_primes_2_workers", "cpu_speedup_2_workers"))
    bench_primes(node);
  return 0;
}

void add_options(troupe::flags& f) {
  f.flag("--quick", opt.quick, "smaller counts (every measurement well under 3 s)");
  f.option("--only", opt.only, "measure just this metric").one_of(known_metrics);
}

}  // namespace

int main(int argc, char** argv) {
  troupe::program prog;
  prog.name = program;
  prog.description = "troupe's cross-process benchmarks (JSON lines on stdout).";
  prog.setup = setup;
  prog.options = add_options;
  prog.main = run_benchmarks;
  return troupe::run(argc, argv, prog);
}
