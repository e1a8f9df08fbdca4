// peer_caf_local: raw CAF 0.17 between two event-based actors in one process, no troupe. It is
// the ceiling for troupe's local messaging: one-way throughput of small messages (the sender
// sends all N at once, like troupe's version) and the median request/response round trip.
// Each figure twice: with CAF's default scheduler settings (impl caf_raw) and with the one troupe
// sets, work-stealing.moderate-sleep-duration = 0 (caf_raw_tuned).
// Output: one JSON line per figure on stdout (see README.md).

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "peer_common.hpp"

namespace {

constexpr const char* program = "peer_caf_local";

using clock_type = std::chrono::steady_clock;
using go_atom = caf::atom_constant<caf::atom("go")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;

// A measurement that has not finished after this long is a hang, not a slow run.
constexpr auto measurement_timeout = std::chrono::seconds(60);

// ---- one-way throughput --------------------------------------------------------------------

// Shared with both actors; the timestamps are ordered by the messages between them.
struct stream_run {
  uint64_t n = 0;
  clock_type::time_point first_send;
  clock_type::time_point last_received;
  std::promise<bool> done;  // false: messages arrived out of order
};

struct counter_state {
  uint64_t received = 0;
};

// The 16-byte message of the other benchmarks, as one element like troupe's Protobuf Item: a
// struct is the cheapest way to send it in CAF (a tuple of atom and words costs one element
// each to build and match).
struct item {
  uint64_t seq = 0;
  uint64_t pad = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item& x) {
  return f(caf::meta::type_name("item"), x.seq, x.pad);
}

caf::behavior counting_receiver(caf::stateful_actor<counter_state>* self,
                                std::shared_ptr<stream_run> run) {
  return {
      [=](const item& x) {
        auto seq = x.seq;
        if (seq != self->state.received) {
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

caf::behavior streaming_sender(caf::event_based_actor* self, caf::actor receiver,
                               std::shared_ptr<stream_run> run) {
  return {
      [=](go_atom) {
        run->first_send = clock_type::now();
        for (uint64_t seq = 0; seq < run->n; ++seq)
          self->send(receiver, item{seq, 1});
        self->quit();
      },
  };
}

template <class T>
T await_or_fail(std::future<T>& f, const char* what) {
  if (f.wait_for(measurement_timeout) != std::future_status::ready)
    peers::fail(program, std::string{what} + ": timed out");
  return f.get();
}

double one_way_throughput(caf::actor_system& sys, uint64_t n) {
  auto run = std::make_shared<stream_run>();
  run->n = n;
  auto done = run->done.get_future();
  auto receiver = sys.spawn(counting_receiver, run);
  auto sender = sys.spawn(streaming_sender, receiver, run);
  caf::anon_send(sender, go_atom::value);
  if (!await_or_fail(done, "one-way stream"))
    peers::fail(program, "receiver saw messages out of order");
  std::chrono::duration<double> elapsed = run->last_received - run->first_send;
  return static_cast<double>(n) / elapsed.count();
}

// ---- round trip ----------------------------------------------------------------------------

struct rtt_run {
  uint64_t warmup = 0;
  uint64_t n = 0;
  std::vector<double> samples_us;  // only touched by the pinger, read after `done`
  std::promise<bool> done;         // false: a request failed
};

caf::behavior echo_ponger() {
  return {
      [](ping_atom, uint64_t x) { return x; },
  };
}

// One request at a time; each response schedules the next, so the stack never grows.
// The request carries a timeout as ordinary user code would, so its cost is part of the figure.
void ping_once(caf::event_based_actor* self, caf::actor ponger, std::shared_ptr<rtt_run> run,
               uint64_t i) {
  if (i == run->warmup + run->n) {
    run->done.set_value(true);
    self->quit();
    return;
  }
  auto start = clock_type::now();
  self->request(ponger, std::chrono::seconds(10), ping_atom::value, i)
      .then(
          [=](uint64_t echoed) {
            std::chrono::duration<double, std::micro> rtt = clock_type::now() - start;
            if (echoed != i) {
              run->done.set_value(false);
              self->quit();
              return;
            }
            if (i >= run->warmup)
              run->samples_us.push_back(rtt.count());
            ping_once(self, ponger, run, i + 1);
          },
          [=](caf::error& err) {
            std::fprintf(stderr, "%s: request failed: %s\n", program,
                         self->system().render(err).c_str());
            run->done.set_value(false);
            self->quit();
          });
}

caf::behavior pinger(caf::event_based_actor* self, caf::actor ponger,
                     std::shared_ptr<rtt_run> run) {
  return {
      [=](go_atom) { ping_once(self, ponger, run, 0); },
  };
}

double round_trip_us(caf::actor_system& sys, uint64_t warmup, uint64_t n) {
  auto run = std::make_shared<rtt_run>();
  run->warmup = warmup;
  run->n = n;
  run->samples_us.reserve(n);
  auto done = run->done.get_future();
  auto ponger = sys.spawn(echo_ponger);
  auto self = sys.spawn(pinger, ponger, run);
  caf::anon_send(self, go_atom::value);
  if (!await_or_fail(done, "round trips"))
    peers::fail(program, "round trip failed");
  caf::anon_send_exit(ponger, caf::exit_reason::user_shutdown);
  return peers::median(run->samples_us);
}

}  // namespace

int main(int argc, char** argv) {
  auto opt = peers::parse_args(argc, argv, {"local_one_way_throughput", "local_round_trip"});
  uint64_t messages = opt.quick ? 200'000 : 2'000'000;
  uint64_t trips = opt.quick ? 10'000 : 100'000;
  for (bool tuned : {false, true}) {
    caf::actor_system_config cfg;
    if (tuned)
      cfg.set("work-stealing.moderate-sleep-duration", caf::timespan{0});
    caf::actor_system sys{cfg};
    const char* impl = tuned ? "caf_raw_tuned" : "caf_raw";
    if (peers::wanted(opt, "local_one_way_throughput"))
      peers::emit(opt, "local_one_way_throughput", impl, one_way_throughput(sys, messages),
                  "msgs/s");
    if (peers::wanted(opt, "local_round_trip"))
      peers::emit(opt, "local_round_trip", impl, round_trip_us(sys, trips / 10, trips), "us");
  }
  return 0;
}
