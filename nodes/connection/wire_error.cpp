#include "troupe/nodes/connection/wire_error.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "troupe/messages/protobuf.hpp"

namespace troupe::detail {

wire::Error to_wire(const caf::error& err) {
  wire::Error out;
  out.set_code(err.code());
  out.set_category(to_string(err.category()));
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    out.set_message(ctx.get_as<std::string>(0));
  else if (!ctx.empty())
    out.set_message(to_string(ctx));
  return out;
}

caf::error from_wire(const wire::Error& err) {
  if (err.code() == 0)
    return caf::error{};
  auto category = caf::atom_from_string(err.category());
  if (err.message().empty())
    return caf::error{static_cast<uint8_t>(err.code()), category};
  return caf::error{static_cast<uint8_t>(err.code()), category, caf::make_message(err.message())};
}

const std::string& error_type_name() {
  return protobuf_name<wire::Error>();
}

}  // namespace troupe::detail
