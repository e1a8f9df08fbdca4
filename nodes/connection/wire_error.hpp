// How a caf::error crosses a link: as a wire::Error (code, category atom, message text), both
// ways (docs/protocol.md, "Messages between actors"). Only a single string of context survives;
// richer context is sent as its rendering.
#pragma once

#include <string>

#include <caf/error.hpp>

#include "troupe/messages/wire.pb.h"

namespace troupe::detail {

wire::Error to_wire(const caf::error& err);

/// Code 0 means no error.
caf::error from_wire(const wire::Error& err);

/// The Protobuf name of wire::Error: errors in envelopes are always named, never numbered.
const std::string& error_type_name();

}  // namespace troupe::detail
