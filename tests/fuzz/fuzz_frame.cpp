// Fuzzes the frame decoder with input cut at arbitrary points, and parses each frame's body as
// the message its kind announces, as the broker does.
#include <cstddef>
#include <cstdint>

#include <google/protobuf/stubs/logging.h>

#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/wire/frame.hpp"

using namespace troupe::wire;

namespace {

void parse_body(const frame_view& frame) {
  auto parse = [&](auto msg) {
    msg.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()));
  };
  switch (frame.type) {
    case kind::hello:
      parse(Hello{});
      break;
    case kind::auth:
      parse(Auth{});
      break;
    case kind::goodbye:
      parse(Goodbye{});
      break;
    case kind::heartbeat:
      parse(Heartbeat{});
      break;
    case kind::envelope:
      parse(Envelope{});
      break;
    case kind::actor_down:
      parse(ActorDown{});
      break;
    case kind::spawn_request:
      parse(SpawnRequest{});
      break;
    case kind::spawn_response:
      parse(SpawnResponse{});
      break;
  }
}

}  // namespace

// libprotobuf logs every string field with invalid UTF-8; the fuzzer hits that constantly.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  // The first byte picks the read size, so frames straddle reads in every possible way.
  size_t chunk = 1 + data[0] % 64;
  frame_decoder decoder{64 * 1024};
  const char* at = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  while (left > 0) {
    auto n = std::min(chunk, left);
    decoder.feed(at, n);
    at += n;
    left -= n;
    frame_view frame;
    for (;;) {
      auto st = decoder.next(frame);
      if (st == frame_decoder::status::frame) {
        parse_body(frame);
        continue;
      }
      if (st != frame_decoder::status::need_more)
        return 0;  // the broker closes the connection here
      break;
    }
  }
  return 0;
}
