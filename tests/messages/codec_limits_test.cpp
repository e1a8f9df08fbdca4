// The bounds a decode keeps against hostile bytes: the heap it really allocates stays within
// max_memory (measured by counting every operator new of the decode), keys crafted to collide in
// one hash bucket cost at most max_hash_probes comparisons, and an ordered container refuses NaN
// keys.
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "troupe/messages/codec.hpp"

using namespace std::string_literals;

// -- counting the heap ----------------------------------------------------------------------------

namespace {

// What the allocator hands out (malloc_usable_size), counted only while a measurement runs.
std::atomic<bool> counting{false};
std::atomic<long long> live_bytes{0};
std::atomic<long long> peak_bytes{0};

void count_new(void* p) {
  if (!counting.load(std::memory_order_relaxed))
    return;
  auto now = live_bytes += static_cast<long long>(malloc_usable_size(p));
  auto peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
}

void count_delete(void* p) {
  if (p != nullptr && counting.load(std::memory_order_relaxed))
    live_bytes -= static_cast<long long>(malloc_usable_size(p));
}

void* counted_new(std::size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr)
    throw std::bad_alloc{};
  count_new(p);
  return p;
}

void counted_delete(void* p) noexcept {
  count_delete(p);
  std::free(p);
}

}  // namespace

void* operator new(std::size_t n) {
  return counted_new(n);
}
void* operator new[](std::size_t n) {
  return counted_new(n);
}
void operator delete(void* p) noexcept {
  counted_delete(p);
}
void operator delete[](void* p) noexcept {
  counted_delete(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_delete(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_delete(p);
}

namespace {

struct decode_result {
  bool ok = false;
  long long peak = 0;  // the highest heap the decode held at once, in bytes
};

/// Decodes into a fresh T; the value is destroyed before counting stops (frees are counted).
template <class T>
decode_result decode_counted(const std::string& bytes, const troupe::decode_limits& limits) {
  live_bytes = 0;
  peak_bytes = 0;
  counting = true;
  bool ok = false;
  {
    T value{};
    ok = troupe::decode(bytes, value, limits);
  }
  counting = false;
  return {ok, peak_bytes.load()};
}

/// Field 1 repeated `count` times, each occurrence `element` (tag included).
std::string repeat(const std::string& element, size_t count) {
  std::string out;
  out.reserve(element.size() * count);
  for (size_t i = 0; i < count; ++i)
    out += element;
  return out;
}

struct wide {
  std::map<int, int> m0, m1, m2, m3, m4, m5, m6, m7, m8, m9;
};
TROUPE_FIELDS(wide, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9);

}  // namespace

// -- memory ---------------------------------------------------------------------------------------

constexpr long long slack = 4096;  // the decode's few fixed allocations, not per element

TEST(CodecLimits, VectorGrowthIsChargedInFull) {
  // 1 MiB of empty structs of 10 maps: 480 bytes each in the vector, from 2 input bytes each.
  auto bytes = repeat(std::string("\x0a\x00", 2), 512 * 1024);
  troupe::decode_limits limits{.max_memory = 64 << 20};
  auto r = decode_counted<std::vector<wide>>(bytes, limits);
  EXPECT_FALSE(r.ok);
  EXPECT_LE(r.peak, limits.max_memory + slack);
  EXPECT_GT(r.peak, limits.max_memory / 4);  // it did work up to the limit, not refuse early
}

TEST(CodecLimits, NestedVectorsCountEveryBuffer) {
  // Each element a boxed vector<int64> of one number: a 32-byte heap block for 5 input bytes.
  auto bytes = repeat(std::string("\x0a\x03\x0a\x01\x01", 5), 1'000'000);
  troupe::decode_limits limits{.max_memory = 16 << 20};
  auto r = decode_counted<std::vector<std::vector<int64_t>>>(bytes, limits);
  EXPECT_FALSE(r.ok);
  EXPECT_LE(r.peak, limits.max_memory + slack);
}

TEST(CodecLimits, NodeContainersAndStringsCountTheirNodesAndBuffers) {
  troupe::decode_limits limits{.max_memory = 8 << 20};
  // Map entries {1: i, 2: a 40-byte string}: a node and a string buffer each.
  std::string entries;
  for (int64_t i = 1; i <= 200'000; ++i) {
    std::string entry;
    troupe::codec::write_field(entry, 1, i);
    troupe::codec::write_field(entry, 2, std::string(40, 'x'));
    entries += "\x0a"s;
    troupe::wire_format::put_varint(entries, entry.size());
    entries += entry;
  }
  auto ordered = decode_counted<std::map<int64_t, std::string>>(entries, limits);
  EXPECT_FALSE(ordered.ok);
  EXPECT_LE(ordered.peak, limits.max_memory + slack);
  auto hashed = decode_counted<std::unordered_map<int64_t, std::string>>(entries, limits);
  EXPECT_FALSE(hashed.ok);
  EXPECT_LE(hashed.peak, limits.max_memory + slack);

  std::vector<int64_t> numbers(400'000);
  for (size_t i = 0; i < numbers.size(); ++i)
    numbers[i] = static_cast<int64_t>(i) + 1;
  std::string unpacked;
  for (auto n : numbers)
    troupe::codec::write_field(unpacked, 1, n);
  auto set = decode_counted<std::set<int64_t>>(unpacked, limits);
  EXPECT_FALSE(set.ok);
  EXPECT_LE(set.peak, limits.max_memory + slack);
  auto hash_set = decode_counted<std::unordered_set<int64_t>>(unpacked, limits);
  EXPECT_FALSE(hash_set.ok);
  EXPECT_LE(hash_set.peak, limits.max_memory + slack);
}

TEST(CodecLimits, WhatFitsTheLimitStillDecodes) {
  troupe::decode_limits limits{.max_memory = 64 << 20};
  std::map<int64_t, std::string> map;
  std::vector<std::vector<int64_t>> nested;
  for (int64_t i = 1; i <= 20'000; ++i) {
    map[i] = std::string(40, 'y');
    nested.push_back({i, i + 1});
  }
  auto m = decode_counted<std::map<int64_t, std::string>>(troupe::encode(map), limits);
  EXPECT_TRUE(m.ok);
  EXPECT_LE(m.peak, limits.max_memory);
  auto v = decode_counted<std::vector<std::vector<int64_t>>>(troupe::encode(nested), limits);
  EXPECT_TRUE(v.ok);
  auto w = decode_counted<std::vector<wide>>(repeat(std::string("\x0a\x00", 2), 10'000), limits);
  EXPECT_TRUE(w.ok);
}

// -- hash flooding --------------------------------------------------------------------------------

namespace {

// The comparisons an unordered container makes: the work a colliding bucket costs.
std::atomic<long long> comparisons{0};

struct counting_equal {
  bool operator()(int64_t a, int64_t b) const {
    ++comparisons;
    return a == b;
  }
};

using counted_set = std::unordered_set<int64_t, std::hash<int64_t>, counting_equal>;
using counted_map = std::unordered_map<int64_t, int64_t, std::hash<int64_t>, counting_equal>;

/// Keys that all land in bucket 0 of a libstdc++ table of `n` elements (std::hash<int64_t> is
/// the identity): multiples of its bucket count.
std::vector<int64_t> colliding_keys(size_t n) {
  std::unordered_set<int64_t> probe;
  for (size_t i = 0; i < n; ++i)
    probe.insert(static_cast<int64_t>(i));
  auto buckets = static_cast<int64_t>(probe.bucket_count());
  std::vector<int64_t> keys;
  for (size_t i = 0; i < n; ++i)
    keys.push_back(static_cast<int64_t>(i) * buckets);
  return keys;
}

std::string map_of(const std::vector<int64_t>& keys) {
  std::string out;
  for (auto k : keys) {
    std::string entry;
    troupe::codec::write_field(entry, 1, k);
    troupe::codec::write_field(entry, 2, int64_t{7});
    out += "\x0a"s;
    troupe::wire_format::put_varint(out, entry.size());
    out += entry;
  }
  return out;
}

}  // namespace

TEST(CodecLimits, CollidingKeysAreRefusedWithinTheProbeBudget) {
  constexpr size_t n = 80'000;  // 3.2e9 comparisons if they were all inserted
  auto keys = colliding_keys(n);
  // Each probe charged is about one comparison; the lookup and the insert walk the same bucket.
  troupe::decode_limits defaults{};
  comparisons = 0;
  counted_set set;
  EXPECT_FALSE(troupe::decode(troupe::encode(keys), set, defaults));
  EXPECT_LE(comparisons.load(), 4 * static_cast<long long>(defaults.max_hash_probes));
  troupe::decode_limits smaller{.max_hash_probes = 1 << 20};
  comparisons = 0;
  counted_map map;
  EXPECT_FALSE(troupe::decode(map_of(keys), map, smaller));
  EXPECT_LE(comparisons.load(), 4 * static_cast<long long>(smaller.max_hash_probes));
}

TEST(CodecLimits, SpreadKeysOfTheSameSizeDecode) {
  constexpr size_t n = 80'000;
  auto colliding = colliding_keys(n);
  std::vector<int64_t> keys;
  // As large as the colliding keys, so the input is as long, but spread over the buckets.
  for (size_t i = 0; i < n; ++i)
    keys.push_back(colliding.back() + static_cast<int64_t>(i));
  comparisons = 0;
  counted_set set;
  EXPECT_TRUE(troupe::decode(troupe::encode(keys), set));
  EXPECT_EQ(set.size(), n);
  counted_map map;
  EXPECT_TRUE(troupe::decode(map_of(keys), map));
  EXPECT_EQ(map.size(), n);
  EXPECT_LE(comparisons.load(), 8 * static_cast<long long>(n));
}

TEST(CodecLimits, TheProbeBudgetIsTheCallersToSet) {
  std::vector<int64_t> keys;
  for (int64_t i = 0; i < 1000; ++i)
    keys.push_back(i);
  std::unordered_set<int64_t> set;
  EXPECT_TRUE(troupe::decode(troupe::encode(keys), set));
  EXPECT_FALSE(troupe::decode(troupe::encode(keys), set, {.max_hash_probes = 500}));
}

// -- NaN keys -------------------------------------------------------------------------------------

TEST(CodecLimits, OrderedContainersRefuseNaNKeys) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> with_nan{1.0, nan, 2.0};
  std::set<double> set;
  EXPECT_FALSE(troupe::decode(troupe::encode(with_nan), set));
  std::map<double, int64_t> map;
  EXPECT_FALSE(troupe::decode(troupe::encode(std::unordered_map<double, int64_t>{{nan, 1}}), map));
  std::set<std::pair<double, int64_t>> pairs;
  EXPECT_FALSE(
      troupe::decode(troupe::encode(std::vector<std::pair<double, int64_t>>{{nan, 1}}), pairs));
  EXPECT_TRUE(troupe::decode(troupe::encode(std::vector<double>{1.0, 2.0, -0.0}), set));
  // A hash container holds NaNs as distinct elements, each charged: nothing to refuse.
  std::unordered_set<double> hashed;
  EXPECT_TRUE(troupe::decode(troupe::encode(with_nan), hashed));
  EXPECT_EQ(hashed.size(), 3u);
}
