// Fuzzes the decoding of task arguments and results (messages/items.hpp): the Items framing
// and every value codec, as a worker and a head read them from a batch.
#include <cstddef>
#include <cstdint>

#include <google/protobuf/stubs/logging.h>
#include <string>

#include "troupe/messages/items.hpp"
#include "troupe/messages/pool.pb.h"

using namespace troupe;

// libprotobuf logs every string field with invalid UTF-8; the fuzzer hits that constantly.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  size_t records = 0;
  items::read_records(in, [&](std::string_view value, std::string_view whole) {
    ++records;
    int64_t i = 0;
    double d = 0;
    float f = 0;
    bool b = false;
    std::string s;
    pool::TaskFailure m;
    items::codec<int64_t>::parse(value, i);
    items::codec<double>::parse(value, d);
    items::codec<float>::parse(value, f);
    items::codec<bool>::parse(value, b);
    items::codec<std::string>::parse(value, s);
    items::codec<pool::TaskFailure>::parse(value, m);
    // Re-encoding what parsed must give a record that reads back.
    std::string again;
    items::append(again, i);
    items::append(again, s);
    size_t back = 0;
    if (!items::read_items(again, [&](std::string_view) { return ++back > 0; }) || back != 2)
      __builtin_trap();
    return whole.size() >= value.size();
  });
  return 0;
}
