// troupe_local_bench: troupe's in-process figures, set beside peer_caf_local and Python's
// ThreadPoolExecutor by bench/run.py: one-way throughput and request round trip between two
// local actors exchanging registered Protobuf messages in a troupe::config actor system (what
// troupe's layer costs over raw CAF), and troupe::thread_pool::submit with tiny tasks.
// Output: one JSON line per figure on stdout, like the peers (see bench/README.md).

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "peers/peer_common.hpp"
#include "round_trip.hpp"
#include "troupe/actors/thread_pool.hpp"
#include "troupe/bench/bench.pb.h"
#include "troupe/messages/config.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::bench::Item;
using troupe::bench::Ping;

constexpr const char* program = "troupe_local_bench";
using clock_type = std::chrono::steady_clock;

// A measurement that has not finished after this long is a hang, not a slow run.
constexpr auto measurement_timeout = 60s;

template <class T>
T await_or_fail(std::future<T>& f, const char* what) {
  if (f.wait_for(measurement_timeout) != std::future_status::ready)
    peers::fail(program, std::string{what} + ": timed out");
  return f.get();
}

// ---- one-way throughput (peer_caf_local's protocol, with a Protobuf Item) -------------------

// Shared with both actors; the timestamps are ordered by the messages between them.
struct stream_run {
  uint64_t n = 0;
  clock_type::time_point first_send;
  clock_type::time_point last_received;
  std::promise<bool> done;  // false: items arrived out of order
};

struct counter_state {
  uint64_t received = 0;
};

caf::behavior counting_receiver(caf::stateful_actor<counter_state>* self,
                                std::shared_ptr<stream_run> run) {
  return {
      [=](const Item& item) {
        if (item.seq() != self->state.received) {
          run->done.set_value(false);
          self->quit();
          return;
        }
        if (++self->state.received == run->n) {
          run->last_received = clock_type::now();
          run->done.set_value(true);
          self->quit();
        }
      },
  };
}

// Sends all n at once on its first message, like the raw CAF peer's sender on `go`.
caf::behavior streaming_sender(caf::event_based_actor* self, caf::actor receiver,
                               std::shared_ptr<stream_run> run) {
  return {
      [=](const Ping&) {
        Item item;
        item.set_pad(1);  // non-zero, or Protobuf would not send the padding at all
        run->first_send = clock_type::now();
        for (uint64_t seq = 0; seq < run->n; ++seq) {
          item.set_seq(seq);
          self->send(receiver, item);
        }
        self->quit();
      },
  };
}

double one_way_throughput(caf::actor_system& sys, uint64_t n) {
  auto run = std::make_shared<stream_run>();
  run->n = n;
  auto done = run->done.get_future();
  auto receiver = sys.spawn(counting_receiver, run);
  auto sender = sys.spawn(streaming_sender, receiver, run);
  caf::anon_send(sender, Ping{});
  if (!await_or_fail(done, "one-way stream"))
    peers::fail(program, "the receiver saw items out of order");
  std::chrono::duration<double> elapsed = run->last_received - run->first_send;
  return static_cast<double>(n) / elapsed.count();
}

// ---- round trip -----------------------------------------------------------------------------

caf::behavior echo_ponger() {
  return {
      [](const Ping& ping) { return ping; },
  };
}

double round_trip_us(caf::actor_system& sys, uint64_t trips) {
  auto ponger = sys.spawn(echo_ponger);
  auto median = round_trip::median_us(sys, ponger, trips, program);
  caf::anon_send_exit(ponger, caf::exit_reason::user_shutdown);
  return median;
}

// ---- thread pool ----------------------------------------------------------------------------

int64_t square(int64_t x) {
  return x * x;
}

// The Python peer's protocol: default workers, started by a warm-up; then submit n tiny tasks
// and wait for every future.
double thread_pool_submit(caf::actor_system& sys, uint64_t n) {
  troupe::thread_pool pool{sys};
  std::vector<troupe::future<int64_t>> futures;
  for (int64_t i = 0; i < 100; ++i)
    futures.push_back(pool.submit(square, i));
  for (auto& f : futures)
    f.result();
  futures.clear();
  futures.reserve(n);
  auto start = clock_type::now();
  for (uint64_t i = 0; i < n; ++i)
    futures.push_back(pool.submit(square, static_cast<int64_t>(i)));
  for (auto& f : futures)
    if (!f.wait_for(measurement_timeout))
      peers::fail(program, "a thread pool task did not finish");
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  auto last = static_cast<int64_t>(n) - 1;
  if (futures.back().result() != last * last)
    peers::fail(program, "the thread pool returned a wrong result");
  return static_cast<double>(n) / elapsed.count();
}

}  // namespace

int main(int argc, char** argv) {
  auto opt = peers::parse_args(
      argc, argv, {"local_one_way_throughput", "local_round_trip", "thread_pool_submit_tiny"});
  uint64_t messages = opt.quick ? 200'000 : 2'000'000;
  uint64_t trips = opt.quick ? 10'000 : 100'000;
  uint64_t tasks = opt.quick ? 20'000 : 200'000;  // the Python peer's counts
  troupe::config cfg;
  cfg.add_messages<Item, Ping>();
  caf::actor_system sys{cfg};
  if (peers::wanted(opt, "local_one_way_throughput"))
    peers::emit(opt, "local_one_way_throughput", "troupe", one_way_throughput(sys, messages),
                "msgs/s");
  if (peers::wanted(opt, "local_round_trip"))
    peers::emit(opt, "local_round_trip", "troupe", round_trip_us(sys, trips), "us");
  if (peers::wanted(opt, "thread_pool_submit_tiny"))
    peers::emit(opt, "thread_pool_submit_tiny", "troupe", thread_pool_submit(sys, tasks),
                "tasks/s");
  return 0;
}
