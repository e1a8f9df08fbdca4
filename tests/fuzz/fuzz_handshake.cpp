// Fuzzes the handshake state machine: any sequence of frames, either role, with or without a
// cluster secret. It must end established, failed, or waiting, never misbehave.
#include <cstddef>
#include <cstdint>

#include <google/protobuf/stubs/logging.h>

#include "troupe/nodes/wire/handshake.hpp"

using namespace troupe::wire;

// libprotobuf logs every string field with invalid UTF-8; the fuzzer hits that constantly.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  handshake_options opts;
  opts.role = (data[0] & 1) ? role::acceptor : role::connector;
  if (data[0] & 2)
    opts.secret = "fuzzing secret";
  // A fixed nonce keeps runs reproducible; the fuzzer may still echo it back.
  handshake hs{identity{"fuzz", 1, std::string(20, 'h')}, opts, std::string(32, 'N')};
  std::vector<char> out;
  hs.start(out);
  frame_decoder decoder{handshake_max_frame_size};
  decoder.feed(reinterpret_cast<const char*>(data + 1), size - 1);
  frame_view frame;
  while (decoder.next(frame) == frame_decoder::status::frame) {
    auto st = hs.on_frame(frame, out);
    if (st == handshake::state::failed || st == handshake::state::established)
      break;
  }
  return 0;
}
