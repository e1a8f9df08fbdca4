// The name of a channel's value type, as both processes of one program spell it: a queue handed
// to a worker process is checked against the type its target expects before the target runs.
#pragma once

#include <string>
#include <typeinfo>

namespace troupe::ipc {

/// A type's name for messages, as it is written: "std::string", "int64_t",
/// "std::vector<std::string>" (common types by their usual names, others demangled without
/// their defaulted arguments such as allocators).
std::string type_name(const std::type_info& type);

template <class T>
const std::string& value_type_name() {
  static const std::string name = type_name(typeid(T));
  return name;
}

}  // namespace troupe::ipc
