#include "troupe/nodes/wire/envelope.hpp"

namespace troupe::wire {

inbound_types::result inbound_types::resolve(const Envelope& env, std::string& name) {
  name.clear();
  if (env.type_id() > max_type_id)
    return result::out_of_range;
  if (!env.type_name().empty()) {
    name = env.type_name();
    if (env.type_id() != 0) {
      auto i = names_.find(env.type_id());
      if (i != names_.end()) {
        i->second = name;  // a peer may rebind a number; its later frames follow the new name
      } else {
        if (names_.size() >= max_bindings)
          return result::too_many;
        names_.emplace(env.type_id(), name);
      }
    }
    return result::ok;
  }
  if (env.type_id() == 0)
    return result::ok;  // an empty message
  auto i = names_.find(env.type_id());
  if (i == names_.end())
    return result::undeclared;
  name = i->second;
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
