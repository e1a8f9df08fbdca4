// peer_mpi: Open MPI between two ranks on this host over its shared-memory transport (impl
// mpi_shm), no troupe: the MPI_Send/MPI_Recv ping-pong round trip, one-way throughput of 16-byte
// messages and one-way bandwidth per payload size. Launched through mpirun with two ranks and
// `--mca btl self,vader` (see README.md for the exact command); rank 0 measures and prints, rank
// 1 echoes and receives. Both ranks run the same sequence of measurements, decided by the same
// command line, so they need no commands between them. Output (rank 0 only): one JSON line per
// figure on stdout.
//
// MPI busy-polls: a rank waiting in MPI_Recv spins on its vCPU instead of sleeping, so its round
// trip is the shared-memory ceiling on this machine, bought with two fully busy vCPUs.

#include <mpi.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "peer_common.hpp"
#include "peer_round_trips.hpp"

namespace {

constexpr const char* program = "peer_mpi";
constexpr const char* impl = "mpi_shm";

using clock_type = std::chrono::steady_clock;

constexpr size_t payload_size = 16;  // bench-spec.md: 8-byte sequence number + 8 bytes padding
constexpr int data_tag = 1;
constexpr int ack_tag = 2;
constexpr int measurer = 0;
constexpr int responder = 1;
constexpr auto whole_run_timeout = std::chrono::seconds(120);

// A failing MPI call ends the whole job: mpirun sees a rank exit without MPI_Finalize and kills
// the other one.
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS)
    peers::fail(program, std::string(what) + " failed");
}

uint64_t seq_of(const std::vector<char>& buf) {
  uint64_t seq = 0;
  std::memcpy(&seq, buf.data(), sizeof(seq));
  return seq;
}

void set_seq(std::vector<char>& buf, uint64_t seq) {
  std::memcpy(buf.data(), &seq, sizeof(seq));
}

// Rank 0: samples in the order timed; rank 1: echoes every ping.
std::vector<double> round_trips_us(int rank, bool quick) {
  auto total = peers::round_trip_warmup(quick) + peers::round_trip_timed(quick);
  std::vector<char> ping(payload_size, 'x');
  std::vector<char> pong(payload_size);
  std::vector<double> samples;
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  if (rank == responder) {
    for (uint64_t i = 0; i < total; ++i) {
      check(MPI_Recv(pong.data(), payload_size, MPI_BYTE, measurer, data_tag, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
      check(MPI_Send(pong.data(), payload_size, MPI_BYTE, measurer, data_tag, MPI_COMM_WORLD),
            "MPI_Send");
    }
    return samples;
  }
  samples.reserve(peers::round_trip_timed(quick));
  for (uint64_t i = 0; i < total; ++i) {
    set_seq(ping, i);
    auto start = clock_type::now();
    check(MPI_Send(ping.data(), payload_size, MPI_BYTE, responder, data_tag, MPI_COMM_WORLD),
          "MPI_Send");
    check(MPI_Recv(pong.data(), payload_size, MPI_BYTE, responder, data_tag, MPI_COMM_WORLD,
                   MPI_STATUS_IGNORE),
          "MPI_Recv");
    std::chrono::duration<double, std::micro> rtt = clock_type::now() - start;
    if (pong != ping)
      peers::fail(program, "the echo returned the wrong message");
    if (i >= peers::round_trip_warmup(quick))
      samples.push_back(rtt.count());
  }
  return samples;
}

// Rank 0 sends `n` messages of `bytes` with blocking MPI_Send (small ones go eagerly into the
// shared-memory queue, so the sender runs ahead of the receiver until the queue is full); rank 1
// receives and checks each, then acks with its count. Returns the seconds from the first send to
// the ack (rank 0).
double one_way_seconds(int rank, uint64_t n, size_t bytes) {
  std::vector<char> buf(bytes, 'x');
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  auto count = static_cast<int>(bytes);
  if (rank == responder) {
    uint64_t received = 0;
    for (uint64_t i = 0; i < n; ++i) {
      MPI_Status status;
      check(MPI_Recv(buf.data(), count, MPI_BYTE, measurer, data_tag, MPI_COMM_WORLD, &status),
            "MPI_Recv");
      int got = 0;
      MPI_Get_count(&status, MPI_BYTE, &got);
      if (got == count && seq_of(buf) == i)
        ++received;
    }
    check(MPI_Send(&received, 1, MPI_UINT64_T, measurer, ack_tag, MPI_COMM_WORLD), "MPI_Send");
    return 0.0;
  }
  auto start = clock_type::now();
  for (uint64_t seq = 0; seq < n; ++seq) {
    set_seq(buf, seq);
    check(MPI_Send(buf.data(), count, MPI_BYTE, responder, data_tag, MPI_COMM_WORLD), "MPI_Send");
  }
  uint64_t ack = 0;
  check(MPI_Recv(&ack, 1, MPI_UINT64_T, responder, ack_tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
        "MPI_Recv");
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  if (ack != n)
    peers::fail(program, "the receiver counted " + std::to_string(ack) + " good messages of "
                             + std::to_string(n));
  return elapsed.count();
}

}  // namespace

int main(int argc, char** argv) {
  // Die with mpirun even if it is SIGKILLed: mpirun puts each rank in its own process group, so
  // killing mpirun's group would not reach the ranks.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1)
    return 1;
  check(MPI_Init(&argc, &argv), "MPI_Init");
  std::vector<std::string> metrics{"round_trip", "one_way_throughput"};
  for (auto& m : peers::bandwidth_metrics())
    metrics.push_back(m);
  auto opt = peers::parse_args(argc, argv, metrics);
  int rank = -1;
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 2)
    peers::fail(program, "needs exactly 2 ranks (mpirun -n 2), got " + std::to_string(size));
  peers::start_watchdog(program, whole_run_timeout);
  bool measuring = rank == measurer;
  if (peers::wanted(opt, "round_trip")) {
    auto samples = round_trips_us(rank, opt.quick);
    if (measuring)
      peers::emit(opt, "round_trip", impl, peers::min_block_median(program, impl, samples), "us");
  }
  if (peers::wanted(opt, "one_way_throughput")) {
    uint64_t n = opt.quick ? 100'000 : 1'000'000;
    auto seconds = one_way_seconds(rank, n, payload_size);
    if (measuring)
      peers::emit(opt, "one_way_throughput", impl, static_cast<double>(n) / seconds, "msgs/s");
  }
  for (auto& s : peers::bandwidth_sizes()) {
    if (!peers::wanted(opt, s.metric))
      continue;
    auto n = peers::bandwidth_messages(s.bytes, opt.quick);
    auto seconds = one_way_seconds(rank, n, s.bytes);
    if (measuring)
      peers::emit(opt, s.metric, impl, peers::megabytes_per_s(n, s.bytes, seconds), "MB/s");
  }
  check(MPI_Finalize(), "MPI_Finalize");
  return 0;
}
