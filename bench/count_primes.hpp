// count_primes.hpp: the CPU-bound kernel of cpu_primes_* and cpu_speedup_2_workers, shared by
// troupe_bench's pool task and plain_primes' forked processes, so that the ceiling plain_primes
// measures is the same work troupe's pool runs. Exactly the Python peer's count_primes.
#pragma once

#include <cstdint>

namespace primes {

/// The Python peer's full size and its known count, so that a broken counter cannot pass as a
/// fast one. Every program counts below the same limit in quick mode too.
constexpr uint64_t limit = 2'000'000;
constexpr int64_t below_limit = 148'933;
constexpr uint64_t ranges = 16;  // [0, limit) in equal lengths (not equal work)

constexpr uint64_t range_lo(uint64_t k) {
  return k * limit / ranges;
}

/// The primes n with lo <= n < hi, by trial division by odd d while d * d <= n.
inline int64_t count(uint64_t lo, uint64_t hi) {
  int64_t found = 0;
  for (uint64_t n = lo; n < hi; ++n) {
    if (n < 2)
      continue;
    if (n % 2 == 0) {
      found += n == 2;
      continue;
    }
    bool prime = true;
    for (uint64_t d = 3; d * d <= n; d += 2) {
      if (n % d == 0) {
        prime = false;
        break;
      }
    }
    found += prime;
  }
  return found;
}

}  // namespace primes
