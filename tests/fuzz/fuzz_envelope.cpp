// Fuzzes what the broker does with an Envelope frame: parse it, resolve its payload type
// through the connection's type table, and parse the payload as that type. Several envelopes
// per input share one table, as frames on one connection do.
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
  const auto* desc = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
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
  Envelope env;
  inbound_types::binding* bound = nullptr;
  frame_view frame;
  while (decoder.next(frame) == frame_decoder::status::frame) {
    if (frame.type != kind::envelope)
      continue;
    if (!env.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size())))
      return 0;  // protocol error: the connection ends
    if (types.resolve(env, bound) != inbound_types::result::ok)
      continue;  // rejected with an error response
    const auto& name = bound ? bound->name : env.type_name();
    if (!name.empty())
      parse_payload(name, env.payload());
  }
  return 0;
}
