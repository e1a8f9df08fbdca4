// Fuzzes the value codec (messages/codec.hpp), differentially against libprotobuf: the input is
// decoded as a C++ tuple of fields 1..10 and as the Protobuf message of the same shape
// (fuzz_codec.proto), and
//   - what troupe accepts, libprotobuf accepts, with the same values;
//   - what libprotobuf accepts without unknown fields (troupe refuses a known field of the wrong
//     wire type, which libprotobuf keeps as unknown), troupe accepts;
//   - what troupe accepts re-encodes to bytes that decode to the same values.
// The same input is also decoded as types libprotobuf has no shape for (nested containers,
// optionals, a recursive struct, arrays, sets, narrow integers), each checked by round trip.
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "troupe/messages/codec.hpp"
#include "troupe/tests/fuzz/fuzz_codec.pb.h"

namespace fuzz_types {

struct inner {
  float f = 0;
  std::vector<uint64_t> u;
  std::string s;
};
TROUPE_FIELDS(inner, f, u, s);

struct tree {
  int64_t value = 0;
  std::vector<tree> children;
  std::optional<std::string> label;
  bool operator==(const tree&) const = default;
};
TROUPE_FIELDS(tree, value, children, label);

enum class small : int8_t {};

}  // namespace fuzz_types

namespace {

using fuzz_types::inner;
using shape = std::tuple<int64_t, uint64_t, double, std::string, std::vector<int64_t>,
                         std::vector<std::string>, std::map<std::string, int64_t>, inner,
                         std::vector<inner>, std::optional<int64_t>>;

[[noreturn]] void fail(const char* what) {
  fprintf(stderr, "fuzz_codec: %s\n", what);
  __builtin_trap();
}

template <class F>
bool same_bits(F a, F b) {
  return std::memcmp(&a, &b, sizeof(F)) == 0;
}

bool same_inner(const inner& a, const troupe::fuzz::Inner& b) {
  return same_bits(a.f, b.f()) && a.u == std::vector<uint64_t>(b.u().begin(), b.u().end())
         && a.s == b.s();
}

bool same(const shape& ours, const troupe::fuzz::Shape& theirs) {
  const auto& [a, b, c, d, e, f, g, h, i, j] = ours;
  std::map<std::string, int64_t> entries;
  for (const auto& entry : theirs.g())
    entries[entry.key()] = entry.value();  // a repeated key keeps its last value
  if (i.size() != static_cast<size_t>(theirs.i_size()))
    return false;
  for (size_t k = 0; k < i.size(); ++k)
    if (!same_inner(i[k], theirs.i(static_cast<int>(k))))
      return false;
  return a == theirs.a() && b == theirs.b() && same_bits(c, theirs.c()) && d == theirs.d()
         && e == std::vector<int64_t>(theirs.e().begin(), theirs.e().end())
         && f == std::vector<std::string>(theirs.f().begin(), theirs.f().end()) && g == entries
         && same_inner(h, theirs.h()) && j.has_value() == theirs.has_j()
         && (!j || *j == theirs.j());
}

bool has_unknown_fields(const google::protobuf::Message& m) {
  const auto* reflection = m.GetReflection();
  if (!reflection->GetUnknownFields(m).empty())
    return true;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE)
      continue;
    if (field->is_repeated()) {
      for (int k = 0; k < reflection->FieldSize(m, field); ++k)
        if (has_unknown_fields(reflection->GetRepeatedMessage(m, field, k)))
          return true;
    } else if (has_unknown_fields(reflection->GetMessage(m, field))) {
      return true;
    }
  }
  return false;
}

void differential(std::string_view in) {
  shape ours;
  bool ours_ok = troupe::decode_fields(in, ours);
  troupe::fuzz::Shape theirs;
  bool theirs_ok = theirs.ParseFromArray(in.data(), static_cast<int>(in.size()));
  if (ours_ok && !theirs_ok)
    fail("troupe accepts what libprotobuf refuses");
  if (ours_ok && !same(ours, theirs))
    fail("troupe and libprotobuf read different values");
  if (theirs_ok && !ours_ok && !has_unknown_fields(theirs))
    fail("troupe refuses what libprotobuf reads completely");
  if (!ours_ok)
    return;
  std::string again;
  std::apply([&](const auto&... fields) { troupe::encode_fields(again, fields...); }, ours);
  troupe::fuzz::Shape reparsed;
  if (!reparsed.ParseFromString(again) || !same(ours, reparsed))
    fail("troupe's encoding of what it read is not what libprotobuf reads back");
}

// How a round trip is checked: by the bytes of a second encoding (exact, NaN included), or, for
// unordered containers, whose encoding follows their iteration order, by operator==.
enum class same_as { bytes, values };

// Decodes `in` as a T; what decodes must survive encode and decode unchanged.
template <class T>
void round_trip(std::string_view in, same_as check = same_as::bytes) {
  T value{};
  if (!troupe::decode(in, value, {.max_depth = 32, .max_memory = 1 << 24}))
    return;
  auto bytes = troupe::encode(value);
  T back{};
  if (!troupe::decode(bytes, back, {.max_depth = 32, .max_memory = 1 << 26}))
    fail("an encoded value does not decode");
  if constexpr (requires { back == value; }) {
    if (check == same_as::values && !(back == value))
      fail("a value changed in a round trip");
  }
  if (check == same_as::bytes && troupe::encode(back) != bytes)
    fail("a value encodes to other bytes after a round trip");
}

}  // namespace

// libprotobuf logs parse failures; the fuzzer hits them constantly.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  differential(in);
  round_trip<std::vector<std::vector<std::optional<std::string>>>>(in);
  round_trip<std::map<int32_t, std::vector<int8_t>>>(in);
  round_trip<std::unordered_map<std::string, std::optional<bool>>>(in, same_as::values);
  round_trip<std::set<uint16_t>>(in);
  round_trip<std::array<double, 3>>(in);
  round_trip<std::optional<std::optional<int64_t>>>(in);
  round_trip<std::pair<fuzz_types::small, std::vector<std::byte>>>(in);
  round_trip<fuzz_types::tree>(in);
  round_trip<std::tuple<float, std::vector<float>, std::vector<bool>>>(in);
  return 0;
}
