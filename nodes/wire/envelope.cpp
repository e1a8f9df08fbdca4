#include "troupe/nodes/wire/envelope.hpp"

namespace troupe::wire {

inbound_types::result inbound_types::resolve(const Envelope& env, binding*& bound) {
  bound = nullptr;
  if (env.type_id() > max_type_id)
    return result::out_of_range;
  if (env.type_id() == 0)
    return result::ok;  // named without a number, or an empty message
  auto i = bindings_.find(env.type_id());
  if (!env.type_name().empty()) {
    if (i == bindings_.end()) {
      if (bindings_.size() >= max_bindings)
        return result::too_many;
      i = bindings_.emplace(env.type_id(), binding{}).first;
    }
    if (i->second.name != env.type_name()) {
      // A peer may rebind a number; its later frames follow the new name.
      i->second.name = env.type_name();
      i->second.user = nullptr;
    }
  } else if (i == bindings_.end()) {
    return result::undeclared;
  }
  bound = &i->second;
  return result::ok;
}

const char* to_string(inbound_types::result r) {
  switch (r) {
    case inbound_types::result::ok: return "ok";
    case inbound_types::result::undeclared: return "type number never declared";
    case inbound_types::result::out_of_range: return "type number out of range";
    case inbound_types::result::too_many: return "too many payload types declared";
  }
  return "unknown";
}

}  // namespace troupe::wire
