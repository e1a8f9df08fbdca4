// troupe_bench: troupe's cross-process figures for bench/run.py to set beside the peers': actor
// to actor one-way throughput, bandwidth over a size sweep and round trips over a socketpair
// worker and a TCP (--join) worker; the process pool with tiny and CPU-bound tasks, one call at
// a time and in maps over 1 to 16 workers; pool start-up and join; an idle pool's CPU and
// memory; bytes on the wire. A troupe::program: the same binary runs the workers. Output: one
// JSON line per figure on stdout, as the peers print (bench/README.md, bench-spec.md).

#include <dirent.h>
#include <linux/tcp.h>  // the kernel's tcp_info has tcpi_bytes_acked; glibc's copy lacks it
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "count_primes.hpp"
#include "latency.hpp"
#include "peers/peer_common.hpp"
#include "round_trip.hpp"
#include "troupe/bench/bench.pb.h"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/run.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::bench::Blob;
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
struct flow_control {
  uint64_t credit_every;
  uint64_t window;
};
constexpr flow_control item_flow{10'000, 100'000};

// The size sweep keeps the 16-byte stream's budget in bytes (credit every 160 kB, at most 1.6 MB
// unacknowledged), at least one message per credit and ten per window: a 1 MiB stream keeps ten
// messages in flight.
constexpr flow_control blob_flow(uint64_t size) {
  auto every = std::max<uint64_t>(1, item_flow.credit_every * 16 / size);
  return {every, every * 10};
}

struct sweep_size {
  uint64_t bytes;
  const char* metric;
  uint64_t messages;  // about 1 s at the rates seen here (quick: half, >= 0.3 s)
};
const std::vector<sweep_size> sweep = {
    {16, "one_way_bandwidth_16B", 1'000'000},   {256, "one_way_bandwidth_256B", 600'000},
    {4096, "one_way_bandwidth_4KiB", 200'000},  {65536, "one_way_bandwidth_64KiB", 20'000},
    {1048576, "one_way_bandwidth_1MiB", 1'000},
};

// The pool figures' worker counts, the same as the Python peer's.
const std::vector<size_t> map_workers = {1, 2, 4, 8, 16};
const std::vector<size_t> lifecycle_workers = {2, 8, 32};
// The same n for every worker count and both modes, and for Python: the default chunking makes
// the per-task rate depend on n, and this many take >= 0.3 s at the rates seen here.
constexpr size_t map_tasks = 3'000'000;

constexpr auto request_timeout = 10s;
constexpr auto worker_start_timeout = 30s;
constexpr auto whole_run_timeout = 240s;

std::vector<std::string> with_suffixes(const std::string& metric,
                                       const std::vector<std::string>& suffixes) {
  std::vector<std::string> names;
  for (auto& suffix : suffixes)
    names.push_back(metric + suffix);
  return names;
}

std::vector<std::string> per_workers(const std::string& metric, const std::vector<size_t>& ns) {
  std::vector<std::string> names;
  for (auto n : ns)
    names.push_back(metric + "_w" + std::to_string(n));
  return names;
}

const std::vector<std::string> known_metrics = [] {
  std::vector<std::string> names = {
      "one_way_throughput",
      "round_trip",
      "wire_bytes_per_message",
      "pool_map_tiny",
      "pool_apply_async_tiny",
      "cpu_primes_1_worker",
      "cpu_primes_2_workers",
      "cpu_speedup_2_workers",
      "pool_start_to_first_result",
      "idle_worker_rss",
      "idle_worker_pss",
      "idle_cpu_head",
      "idle_cpu_worker",
  };
  for (auto& s : sweep)
    names.push_back(s.metric);
  for (auto& group :
       {with_suffixes("apply_async_latency", {"_p50", "_p99", "_p999"}),
        with_suffixes("request_latency", {"_p50", "_p99", "_p999"}),
        per_workers("pool_map_tiny", map_workers), per_workers("pool_map_head_cpu", map_workers),
        per_workers("pool_start_to_first_result", lifecycle_workers),
        per_workers("pool_join", lifecycle_workers)})
    names.insert(names.end(), group.begin(), group.end());
  return names;
}();

// Filled from the command line before main runs (troupe::run parses it).
peers::options opt;

template <class... Metrics>
bool any_wanted(Metrics... metrics) {
  return (peers::wanted(opt, metrics) || ...);
}

bool any_wanted(const std::vector<std::string>& metrics) {
  return std::any_of(metrics.begin(), metrics.end(),
                     [](const std::string& m) { return peers::wanted(opt, m.c_str()); });
}

[[noreturn]] void fail(const std::string& what) {
  peers::fail(program, what);
}

// ---- what the worker processes run ----------------------------------------------------------

struct sink_state {
  uint64_t received = 0;
  uint64_t misordered = 0;
  uint64_t bytes = 0;  // payload bytes
};

// Counts one message of a stream, granting its sender credit every `credit_every`.
void count_one(caf::stateful_actor<sink_state>* self, uint64_t seq, uint64_t bytes,
               uint64_t credit_every) {
  auto& st = self->state;
  if (seq != st.received)
    ++st.misordered;
  st.bytes += bytes;
  if (++st.received % credit_every == 0) {
    Credit credit;
    credit.set_received(st.received);
    self->send(caf::actor_cast<caf::actor>(self->current_sender()), credit);
  }
}

// Counts a stream (granting credit to whoever sends it), answers Fin with the count, echoes
// pings: the counterpart of the BASP peer's receiver.
caf::behavior sink(caf::stateful_actor<sink_state>* self) {
  return {
      [self](const Item& item) { count_one(self, item.seq(), 16, item_flow.credit_every); },
      [self](const Blob& blob) {
        auto size = 8 + blob.pad().size();
        count_one(self, blob.seq(), size, blob_flow(size).credit_every);
      },
      [self](const Fin&) {
        Count count;
        count.set_received(self->state.received);
        count.set_misordered(self->state.misordered);
        count.set_bytes(self->state.bytes);
        self->state = sink_state{};
        return count;
      },
      [](const Ping& ping) { return ping; },
  };
}

int64_t square(int64_t x) {
  return x * x;
}

// Exactly the Python peer's count_primes (count_primes.hpp, which plain_primes runs too).
int64_t count_primes(const Range& range) {
  return primes::count(range.lo(), range.hi());
}

void setup(troupe::config& cfg) {
  cfg.add_messages<Item, Blob, Credit, Fin, Count, Ping, Range>();
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

// ---- one-way streams ------------------------------------------------------------------------

struct stream_result {
  double msgs_per_s;
  double payload_mb_per_s;    // 1e6 payload bytes per s
  double wire_bytes_per_msg;  // meaningful over TCP only
};

void await_credit(caf::scoped_actor& self, uint64_t& acked) {
  self->receive([&](const Credit& credit) { acked = credit.received(); },
                caf::after(request_timeout) >> [] { fail("no credit from the sink in time"); });
}

// Sends n copies of `message` (an Item or a Blob: `size` payload bytes) numbered 0..n-1, timed
// from the first send until the sink's answer to Fin, which it can only give after processing
// every one (one connection keeps the order).
template <class Message>
stream_result one_way(caf::actor_system& sys, const caf::actor& remote, Message message,
                      uint64_t size, uint64_t n, flow_control flow) {
  caf::scoped_actor self{sys};
  auto bytes_before = peers::tcp_bytes_acked_total(program);
  auto start = clock_type::now();
  uint64_t acked = 0;
  for (uint64_t seq = 0; seq < n; ++seq) {
    while (seq - acked >= flow.window)
      await_credit(self, acked);
    message.set_seq(seq);
    self->send(remote, message);
  }
  Count count;
  self->request(remote, request_timeout, Fin{})
      .receive([&](const Count& c) { count = c; },
               [&](caf::error& err) { fail("Fin failed: " + troupe::describe(err)); });
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  auto bytes = peers::tcp_bytes_acked_total(program) - bytes_before;
  if (count.received() != n || count.misordered() != 0 || count.bytes() != n * size)
    fail("the sink got " + std::to_string(count.received()) + " of " + std::to_string(n)
         + " messages, " + std::to_string(count.misordered()) + " out of order, "
         + std::to_string(count.bytes()) + " of " + std::to_string(n * size) + " bytes");
  auto msgs_per_s = static_cast<double>(n) / elapsed.count();
  return {msgs_per_s, msgs_per_s * static_cast<double>(size) / 1e6,
          static_cast<double>(bytes) / static_cast<double>(n)};
}

// The 16-byte stream of one_way_throughput and wire_bytes_per_message.
stream_result item_stream(caf::actor_system& sys, const caf::actor& remote, uint64_t n) {
  Item item;
  item.set_pad(1);  // non-zero, or Protobuf would not send the padding at all
  return one_way(sys, remote, item, 16, n, item_flow);
}

// one_way_bandwidth_* of every size of the sweep.
void bandwidth_sweep(caf::actor_system& sys, const caf::actor& remote, const char* impl) {
  for (auto& s : sweep) {
    if (!peers::wanted(opt, s.metric))
      continue;
    Blob blob;
    blob.set_pad(std::string(s.bytes - 8, 'x'));
    auto n = opt.quick ? s.messages / 2 : s.messages;
    peers::emit(opt, s.metric, impl,
                one_way(sys, remote, blob, s.bytes, n, blob_flow(s.bytes)).payload_mb_per_s,
                "MB/s");
  }
}

// ---- the transports -------------------------------------------------------------------------

struct sizes {
  uint64_t messages;
  uint64_t apply_async_tasks;
  uint64_t latency_calls;
  std::chrono::milliseconds idle_window;
};

sizes pick_sizes() {
  if (opt.quick)
    return {100'000, 2'000, 3'000, 2000ms};
  return {1'000'000, 20'000, 20'000, 4000ms};
}

std::vector<std::string> request_latency_metrics() {
  return with_suffixes("request_latency", {"_p50", "_p99", "_p999"});
}

// The samples of the block method (bench-spec.md), as many as every peer times
// (peer_round_trips.hpp); all of them give request_latency's percentiles.
std::vector<double> round_trips(troupe::node& node, const caf::actor& remote) {
  return round_trip::samples_us(node.system(), remote, peers::round_trip_warmup(opt.quick),
                                peers::round_trip_timed(opt.quick), program);
}

void bench_socketpair(troupe::node& node, const sizes& n) {
  auto worker = start_child_worker(node);
  auto remote = spawn_sink(node, worker);
  if (peers::wanted(opt, "one_way_throughput"))
    peers::emit(opt, "one_way_throughput", "troupe_socketpair",
                item_stream(node.system(), remote, n.messages).msgs_per_s, "msgs/s");
  bandwidth_sweep(node.system(), remote, "troupe_socketpair");
  if (peers::wanted(opt, "round_trip") || any_wanted(request_latency_metrics())) {
    auto samples = round_trips(node, remote);
    peers::emit(opt, "round_trip", "troupe_socketpair",
                peers::min_block_median(program, "troupe_socketpair", samples), "us");
    latency::emit_percentiles(opt, "request_latency", "troupe_socketpair", samples);
  }
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
    auto r = item_stream(node.system(), remote, n.messages);
    peers::emit(opt, "one_way_throughput", "troupe_tcp", r.msgs_per_s, "msgs/s");
    peers::emit(opt, "wire_bytes_per_message", "troupe_tcp", r.wire_bytes_per_msg, "bytes");
  }
  bandwidth_sweep(node.system(), remote, "troupe_tcp");
  if (peers::wanted(opt, "round_trip"))
    peers::emit(opt, "round_trip", "troupe_tcp",
                peers::min_block_median(program, "troupe_tcp", round_trips(node, remote)), "us");
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

// CPU seconds (user + system) this process has used, all threads.
double head_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct map_result {
  double tasks_per_s;
  double head_cores;  // the head's CPU seconds per wall second during the map
};

map_result map_tiny(troupe::process_pool& pool, size_t n) {
  std::vector<int64_t> inputs(n);
  std::iota(inputs.begin(), inputs.end(), 0);
  auto cpu_before = head_cpu_seconds();
  auto start = clock_type::now();
  auto out = pool.map(square, inputs);  // automatic chunking, as Python's default chunksize
  auto elapsed = seconds_since(start);
  auto cpu = head_cpu_seconds() - cpu_before;
  auto last = static_cast<int64_t>(n) - 1;
  if (out.size() != n || out.back() != last * last)
    fail("pool.map returned a wrong result");
  return {static_cast<double>(n) / elapsed, cpu / elapsed};
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

// One call at a time: apply_async, wait for its result, next (nothing to batch with). The
// latencies in µs of n calls after `warmup` untimed ones.
std::vector<double> apply_async_latency_us(troupe::process_pool& pool, uint64_t warmup,
                                           uint64_t n) {
  std::vector<double> samples;
  samples.reserve(n);
  for (uint64_t i = 0; i < warmup + n; ++i) {
    auto x = static_cast<int64_t>(i);
    auto start = clock_type::now();
    auto f = pool.apply_async(square, x);
    if (!f.wait_for(request_timeout))
      fail("apply_async: no result in time");
    std::chrono::duration<double, std::micro> latency = clock_type::now() - start;
    if (f.error() || f.result() != x * x)
      fail("apply_async returned a wrong result");
    if (i >= warmup)
      samples.push_back(latency.count());
  }
  return samples;
}

void bench_pool_tiny(troupe::node& node, const sizes& n) {
  troupe::process_pool pool{node, pool_of(2)};
  await_workers(pool, 2);
  warm_up(pool);
  if (peers::wanted(opt, "pool_map_tiny"))
    // 200,000 in quick mode too, like the Python peer: the per-task rate depends on n.
    peers::emit(opt, "pool_map_tiny", "troupe", map_tiny(pool, 200'000).tasks_per_s, "tasks/s");
  if (peers::wanted(opt, "pool_apply_async_tiny"))
    peers::emit(opt, "pool_apply_async_tiny", "troupe", apply_async_tiny(pool, n.apply_async_tasks),
                "tasks/s");
  if (any_wanted(with_suffixes("apply_async_latency", {"_p50", "_p99", "_p999"})))
    latency::emit_percentiles(opt, "apply_async_latency", "troupe",
                              apply_async_latency_us(pool, n.latency_calls / 10, n.latency_calls));
}

// pool_map_tiny_wN and pool_map_head_cpu_wN: the same map over 1 to 16 workers.
void bench_map_workers(troupe::node& node) {
  for (auto workers : map_workers) {
    auto rate = "pool_map_tiny_w" + std::to_string(workers);
    auto cpu = "pool_map_head_cpu_w" + std::to_string(workers);
    if (!any_wanted(rate.c_str(), cpu.c_str()))
      continue;
    troupe::process_pool pool{node, pool_of(workers)};
    await_workers(pool, workers);
    warm_up(pool);
    auto r = map_tiny(pool, map_tasks);
    peers::emit(opt, rate.c_str(), "troupe", r.tasks_per_s, "tasks/s");
    peers::emit(opt, cpu.c_str(), "troupe", r.head_cores, "cores");
  }
}

std::vector<Range> make_prime_ranges() {
  std::vector<Range> ranges(primes::ranges);
  for (uint64_t k = 0; k < primes::ranges; ++k) {
    ranges[k].set_lo(primes::range_lo(k));
    ranges[k].set_hi(primes::range_lo(k + 1));
  }
  return ranges;
}

double time_primes(troupe::node& node, size_t workers) {
  troupe::process_pool pool{node, pool_of(workers)};
  await_workers(pool, workers);
  warm_up(pool);
  auto ranges = make_prime_ranges();
  auto start = clock_type::now();
  auto counts = pool.map(count_primes, ranges, 1);
  auto elapsed = seconds_since(start);
  auto total = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  if (total != primes::below_limit)
    fail("counted " + std::to_string(total) + " primes below " + std::to_string(primes::limit)
         + ", expected " + std::to_string(primes::below_limit));
  return elapsed;
}

void bench_primes(troupe::node& node) {
  auto one = time_primes(node, 1);
  auto two = time_primes(node, 2);
  peers::emit(opt, "cpu_primes_1_worker", "troupe", one, "s");
  peers::emit(opt, "cpu_primes_2_workers", "troupe", two, "s");
  peers::emit(opt, "cpu_speedup_2_workers", "troupe", one / two, "x");
}

// ---- the pool's life cycle ------------------------------------------------------------------

// Lets the workers of a pool that answered settle into their idle wait, as the Python peer does.
constexpr auto settle_time = 300ms;

struct lifecycle_result {
  double start_to_first_result_ms;  // worker processes' start-up included
  double join_ms;                   // close() + join() of the started, idle pool
};

lifecycle_result start_and_join(troupe::node& node, size_t workers) {
  auto start = clock_type::now();
  troupe::process_pool pool{node, pool_of(workers)};
  auto first = pool.apply_async(square, int64_t{3});
  if (!first.wait_for(worker_start_timeout))
    fail("no first result from a new pool in time");
  auto first_ms = seconds_since(start) * 1000.0;
  if (first.error() || first.result() != 9)
    fail("the new pool's first result is wrong");
  await_workers(pool, workers);
  std::this_thread::sleep_for(settle_time);
  start = clock_type::now();
  pool.close();
  if (!pool.join(worker_start_timeout))
    fail("the idle pool of " + std::to_string(workers) + " did not join in time");
  return {first_ms, seconds_since(start) * 1000.0};
}

void bench_lifecycle(troupe::node& node) {
  for (auto workers : lifecycle_workers) {
    auto first = "pool_start_to_first_result_w" + std::to_string(workers);
    auto join = "pool_join_w" + std::to_string(workers);
    bool legacy = workers == 2 && peers::wanted(opt, "pool_start_to_first_result");
    if (!legacy && !any_wanted(first.c_str(), join.c_str()))
      continue;
    auto r = start_and_join(node, workers);
    if (workers == 2)  // the figure of earlier runs: the same measurement
      peers::emit(opt, "pool_start_to_first_result", "troupe", r.start_to_first_result_ms, "ms");
    peers::emit(opt, first.c_str(), "troupe", r.start_to_first_result_ms, "ms");
    peers::emit(opt, join.c_str(), "troupe", r.join_ms, "ms");
  }
}

// ---- an idle pool's costs -------------------------------------------------------------------

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

// utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15, in clock ticks).
double proc_cpu_seconds(uint32_t pid) {
  auto path = "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream in{path};
  std::string stat{std::istreambuf_iterator<char>{in}, {}};
  auto end_of_name = stat.rfind(')');  // the command name may hold spaces
  if (end_of_name == std::string::npos)
    fail("cannot read " + path);
  std::istringstream fields{stat.substr(end_of_name + 2)};
  std::string field;
  uint64_t utime = 0;
  uint64_t stime = 0;
  for (int i = 3; fields >> field; ++i) {  // the first after the name is field 3 (state)
    if (i == 14)
      utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Nanoseconds on CPU of a process's live threads (/proc/PID/task/*/schedstat, the scheduler's
// own account). The figure uses it rather than /proc/PID/stat's utime + stime, which count in
// clock ticks: 10 ms over a 2-4 s window is a resolution of 2.5-5 ms/s, more than an idle pool
// uses; stat's figure still goes to stderr as a cross-check.
uint64_t proc_run_ns(uint32_t pid) {
  auto tasks = "/proc/" + std::to_string(pid) + "/task";
  auto dir = ::opendir(tasks.c_str());
  if (dir == nullptr)
    fail("cannot list " + tasks);
  uint64_t total = 0;
  while (auto entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.')
      continue;
    std::ifstream in{tasks + "/" + entry->d_name + "/schedstat"};
    uint64_t ns = 0;
    if (in >> ns)  // a thread that just ended has no file any more
      total += ns;
  }
  ::closedir(dir);
  return total;
}

// A started 2-worker pool doing nothing: the head's and each worker's CPU over `window`, and the
// workers' memory (smaps_rollup: Pss charges shared pages pro rata, what one more worker
// really costs; Rss counts every shared library page in full).
void bench_idle_pool(troupe::node& node, const sizes& n) {
  troupe::process_pool pool{node, pool_of(2)};
  await_workers(pool, 2);
  warm_up(pool);
  std::this_thread::sleep_for(settle_time);
  std::vector<uint32_t> pids;
  for (auto& p : node.peers())
    if (p.child)
      pids.push_back(p.process_id);
  if (pids.size() != 2)
    fail("expected the idle pool's 2 worker processes, found " + std::to_string(pids.size()));
  auto self = static_cast<uint32_t>(::getpid());
  const std::vector<uint32_t> all = {self, pids[0], pids[1]};  // the head first
  std::vector<uint64_t> ns_before;
  std::vector<double> ticks_before;
  for (auto pid : all) {
    ns_before.push_back(proc_run_ns(pid));
    ticks_before.push_back(proc_cpu_seconds(pid));
  }
  auto start = clock_type::now();
  std::this_thread::sleep_for(n.idle_window);
  auto elapsed = seconds_since(start);
  std::vector<double> ms_per_s;
  std::string by_stat;
  for (size_t i = 0; i < all.size(); ++i) {
    ms_per_s.push_back(static_cast<double>(proc_run_ns(all[i]) - ns_before[i]) / 1e6 / elapsed);
    char text[32];
    std::snprintf(text, sizeof text, " %.1f",
                  (proc_cpu_seconds(all[i]) - ticks_before[i]) * 1000.0 / elapsed);
    by_stat += text;
  }
  std::fprintf(stderr,
               "%s: idle pool CPU over %.1f s (ms/s, head and workers): schedstat %.3f %.3f "
               "%.3f; stat's utime + stime%s\n",
               program, elapsed, ms_per_s[0], ms_per_s[1], ms_per_s[2], by_stat.c_str());
  peers::emit(opt, "idle_cpu_head", "troupe", ms_per_s[0], "ms/s");
  peers::emit(opt, "idle_cpu_worker", "troupe", (ms_per_s[1] + ms_per_s[2]) / 2.0, "ms/s");
  double rss = 0;
  double pss = 0;
  for (auto pid : pids) {
    rss += proc_kib(pid, "smaps_rollup", "Rss") / 2.0;
    pss += proc_kib(pid, "smaps_rollup", "Pss") / 2.0;
  }
  auto first = pids.front();
  // The split tells whether shared library pages or the process's own memory dominate.
  std::fprintf(stderr,
               "%s: idle pool worker (first of 2): VmRSS %.0f kB = RssAnon %.0f + RssFile %.0f; "
               "Pss %.0f kB = Pss_Anon %.0f + Pss_File %.0f; %.0f threads\n",
               program, proc_kib(first, "status", "VmRSS"), proc_kib(first, "status", "RssAnon"),
               proc_kib(first, "status", "RssFile"), proc_kib(first, "smaps_rollup", "Pss"),
               proc_kib(first, "smaps_rollup", "Pss_Anon"),
               proc_kib(first, "smaps_rollup", "Pss_File"), proc_kib(first, "status", "Threads"));
  peers::emit(opt, "idle_worker_rss", "troupe", rss / 1024.0, "MiB");
  peers::emit(opt, "idle_worker_pss", "troupe", pss / 1024.0, "MiB");
}

// ---- the head -------------------------------------------------------------------------------

int run_benchmarks(troupe::node& node, const troupe::head_options&) {
  peers::on_fail = kill_tcp_worker;
  peers::start_watchdog(program, whole_run_timeout);
  auto n = pick_sizes();
  // Start-up first, while nothing else has run in this process.
  bench_lifecycle(node);
  if (any_wanted("idle_cpu_head", "idle_cpu_worker", "idle_worker_rss", "idle_worker_pss"))
    bench_idle_pool(node, n);
  auto sweep_names = [] {
    std::vector<std::string> names;
    for (auto& s : sweep)
      names.push_back(s.metric);
    return names;
  }();
  if (any_wanted("one_way_throughput", "round_trip") || any_wanted(sweep_names)
      || any_wanted(request_latency_metrics()))
    bench_socketpair(node, n);
  if (any_wanted("one_way_throughput", "round_trip", "wire_bytes_per_message")
      || any_wanted(sweep_names))
    bench_tcp(node, n);
  if (any_wanted("pool_map_tiny", "pool_apply_async_tiny")
      || any_wanted(with_suffixes("apply_async_latency", {"_p50", "_p99", "_p999"})))
    bench_pool_tiny(node, n);
  bench_map_workers(node);
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
