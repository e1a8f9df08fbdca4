// Fuzzes what the broker does with an Envelope frame: decode it (troupe's own zero-copy reader,
// checked against the generated Protobuf parser: whatever the generated parser accepts, the
// reader must read the same way), resolve its payload type through the connection's type
// table, and parse the payload as that type. Several envelopes per input share one table, as
// frames on one connection do.
#include <cstddef>
#include <cstdint>

#include <google/protobuf/stubs/logging.h>
#include <memory>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>

#include "troupe/messages/flow.pb.h"
#include "troupe/messages/pool.pb.h"
#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/wire/envelope.hpp"
#include "troupe/nodes/wire/frame.hpp"

using namespace troupe::wire;

namespace {

// The broker looks types up in its registry; here the generated pool plays that part.
void parse_payload(const std::string& name, const std::string& payload) {
  const auto* desc =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
  if (!desc)
    return;  // unknown_message_type
  const auto* prototype = google::protobuf::MessageFactory::generated_factory()->GetPrototype(desc);
  if (!prototype)
    return;
  std::unique_ptr<google::protobuf::Message> msg{prototype->New()};
  msg->ParseFromString(payload);
}

}  // namespace

// libprotobuf logs every string field with invalid UTF-8; the fuzzer hits that constantly.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Keep the generated types linked in, so that their names resolve.
  static const troupe::flow::Demand keep_flow;
  static const troupe::pool::TaskBatch keep_pool;
  static_cast<void>(keep_flow);
  static_cast<void>(keep_pool);
  frame_decoder decoder{64 * 1024};
  decoder.feed(reinterpret_cast<const char*>(data), size);
  inbound_types types;
  Envelope reference;
  envelope_view env;
  inbound_types::binding* bound = nullptr;
  frame_view frame;
  while (decoder.next(frame) == frame_decoder::status::frame) {
    if (frame.type != kind::envelope)
      continue;
    bool ours = read_envelope(frame.body, env);
    bool generated =
        reference.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size()));
    if (generated) {
      // The generated parser may only refuse more (invalid UTF-8 in type_name), never less.
      if (!ours || env.target != reference.target() || env.sender != reference.sender()
          || env.request_id != reference.request_id() || env.is_response != reference.is_response()
          || env.urgent != reference.urgent() || env.type_id != reference.type_id()
          || env.type_name != reference.type_name() || env.payload != reference.payload())
        __builtin_trap();
    }
    if (!ours)
      return 0;  // protocol error: the connection ends
    if (types.resolve(env, bound) != inbound_types::result::ok)
      continue;  // rejected with an error response
    std::string name{bound ? std::string_view{bound->name} : env.type_name};
    if (!name.empty())
      parse_payload(name, std::string{env.payload});
  }
  return 0;
}
