// codec_bench: the per-record cost of task values (messages/codec.hpp), in ns per record, as
// the pool pays it: a head encodes one call record per item (append_call) and decodes one
// result record (decode_result); a worker decodes the call (decode_fields) and encodes the
// result (append_value). For int64, "today" is the one-argument codec troupe had before calls
// of any arity (items.hpp at 71c7330, kept here as the baseline), "new" the general codec.
//   build-*/bench/codec_bench [--benchmark_filter=Int64] [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "troupe/actors/future.hpp"
#include "troupe/messages/codec.hpp"
#include "troupe/messages/detail/task_call.hpp"
#include "troupe/messages/items.hpp"

namespace bench_types {

struct point {
  double x = 0;
  double y = 0;
  std::string label;
  std::vector<int64_t> tags;
};
TROUPE_FIELDS(point, x, y, label, tags);

}  // namespace bench_types

namespace {

using bench_types::point;

// -- the one-argument int64 codec before calls of any arity ---------------------------------------

namespace today {

constexpr char item_tag = 0x0A;

void append(std::string& out, int64_t value) {
  auto v = static_cast<uint64_t>(value);
  char record[13];
  record[0] = item_tag;
  if (v == 0) {
    record[1] = 0;
    out.append(record, 2);
    return;
  }
  record[2] = 0x08;
  auto* end = troupe::wire_format::write_varint(record + 3, v);
  record[1] = static_cast<char>(end - record - 2);
  out.append(record, end);
}

bool parse(std::string_view bytes, int64_t& value) {
  value = 0;
  while (!bytes.empty()) {
    uint64_t tag = 0;
    uint64_t v = 0;
    if (!troupe::wire_format::read_varint(bytes, tag) || (tag & 7) != troupe::wire_format::varint
        || !troupe::wire_format::read_varint(bytes, v))
      return false;
    if (tag == 0x08)
      value = static_cast<int64_t>(v);
  }
  return true;
}

}  // namespace today

// -- tasks whose calls are measured ---------------------------------------------------------------

int64_t square(int64_t x) {
  return x * x;
}
std::string shout(const std::string& s) {
  return s;
}
std::string formatter(const std::string& a, int64_t b) {
  return a + std::to_string(b);
}
int64_t sum(const std::vector<int64_t>& v) {
  return static_cast<int64_t>(v.size());
}
int64_t total(const std::map<std::string, int64_t>& m) {
  return static_cast<int64_t>(m.size());
}
double norm(const point& p) {
  return p.x;
}

std::vector<int64_t> hundred() {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < 100; ++i)
    v.push_back(i * 1000 - 5000);
  return v;
}

std::map<std::string, int64_t> ten() {
  std::map<std::string, int64_t> m;
  for (int i = 0; i < 10; ++i)
    m["word" + std::to_string(i)] = i * 7;
  return m;
}

point a_point() {
  return point{1.5, -2.25, "corner", {1, 2, 3}};
}

// Appends records to a buffer that is reused, as a batch's buffer is.
template <class Append>
void encode_loop(benchmark::State& state, Append append) {
  std::string out;
  out.reserve(1 << 20);
  for (auto _ : state) {
    if (out.size() > (1 << 19))
      out.clear();
    append(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}

// The value bytes of the first record in `items`.
std::string first_record(const std::string& items) {
  std::string record;
  troupe::items::read_items(items, [&](std::string_view r) {
    record = r;
    return false;
  });
  return record;
}

template <class Decode>
void decode_loop(benchmark::State& state, const std::string& items, Decode decode) {
  auto record = first_record(items);
  for (auto _ : state) {
    bool ok = decode(std::string_view{record});
    benchmark::DoNotOptimize(ok);
    if (!ok)
      state.SkipWithError("a record did not decode");
  }
  state.SetItemsProcessed(state.iterations());
}

// -- int64: today's path and the new one ----------------------------------------------------------

void Int64_Encode_Today(benchmark::State& state) {
  int64_t x = 123456;
  encode_loop(state, [&](std::string& out) { today::append(out, ++x); });
}
void Int64_Encode_New(benchmark::State& state) {
  int64_t x = 123456;
  encode_loop(state,
              [&](std::string& out) { troupe::detail::append_call<decltype(&square)>(out, ++x); });
}
void Int64_Decode_Today(benchmark::State& state) {
  std::string items;
  today::append(items, 123456789);
  decode_loop(state, items, [](std::string_view r) {
    int64_t v = 0;
    bool ok = today::parse(r, v);
    benchmark::DoNotOptimize(v);
    return ok;
  });
}
void Int64_Decode_New(benchmark::State& state) {
  std::string items;
  troupe::detail::append_call<decltype(&square)>(items, 123456789);
  decode_loop(state, items, [](std::string_view r) {
    std::tuple<int64_t> args;
    bool ok = troupe::decode_fields(r, args);
    benchmark::DoNotOptimize(args);
    return ok;
  });
}
void Int64_DecodeResult_New(benchmark::State& state) {
  std::string items;
  troupe::items::append_value(items, int64_t{123456789});
  decode_loop(state, items, [](std::string_view r) {
    auto v = troupe::detail::decode_result<int64_t>(r);
    benchmark::DoNotOptimize(v);
    return true;
  });
}

// -- the other shapes -----------------------------------------------------------------------------

template <class F, class... Args>
void call_encode(benchmark::State& state, const Args&... args) {
  encode_loop(state, [&](std::string& out) { troupe::detail::append_call<F>(out, args...); });
}

template <class F, class... Args>
void call_decode(benchmark::State& state, const Args&... args) {
  std::string items;
  troupe::detail::append_call<F>(items, args...);
  decode_loop(state, items, [](std::string_view r) {
    troupe::task_arguments_of<F> decoded;
    bool ok = troupe::decode_fields(r, decoded);
    benchmark::DoNotOptimize(decoded);
    return ok;
  });
}

void String_Encode(benchmark::State& state) {
  call_encode<decltype(&shout)>(state, std::string{"hello world"});
}
void String_Decode(benchmark::State& state) {
  call_decode<decltype(&shout)>(state, std::string{"hello world"});
}
void StringInt64Pair_Encode(benchmark::State& state) {
  call_encode<decltype(&formatter)>(state, std::string{"Hello"}, int64_t{1});
}
void StringInt64Pair_Decode(benchmark::State& state) {
  call_decode<decltype(&formatter)>(state, std::string{"Hello"}, int64_t{1});
}
void VectorOf100Int64_Encode(benchmark::State& state) {
  call_encode<decltype(&sum)>(state, hundred());
}
void VectorOf100Int64_Decode(benchmark::State& state) {
  call_decode<decltype(&sum)>(state, hundred());
}
void MapOf10StringInt64_Encode(benchmark::State& state) {
  call_encode<decltype(&total)>(state, ten());
}
void MapOf10StringInt64_Decode(benchmark::State& state) {
  call_decode<decltype(&total)>(state, ten());
}
void Struct_Encode(benchmark::State& state) {
  call_encode<decltype(&norm)>(state, a_point());
}
void Struct_Decode(benchmark::State& state) {
  call_decode<decltype(&norm)>(state, a_point());
}

BENCHMARK(Int64_Encode_Today);
BENCHMARK(Int64_Encode_New);
BENCHMARK(Int64_Decode_Today);
BENCHMARK(Int64_Decode_New);
BENCHMARK(Int64_DecodeResult_New);
BENCHMARK(String_Encode);
BENCHMARK(String_Decode);
BENCHMARK(StringInt64Pair_Encode);
BENCHMARK(StringInt64Pair_Decode);
BENCHMARK(VectorOf100Int64_Encode);
BENCHMARK(VectorOf100Int64_Decode);
BENCHMARK(MapOf10StringInt64_Encode);
BENCHMARK(MapOf10StringInt64_Decode);
BENCHMARK(Struct_Encode);
BENCHMARK(Struct_Decode);

}  // namespace

BENCHMARK_MAIN();
