// The name of a channel's value type, as both processes of one program spell it: a queue handed
// to a worker process is checked against the type its target expects before the target runs.
#pragma once

#include <string>
#include <typeinfo>

namespace troupe::ipc {

/// The demangled name of a type_info ("std::__cxx11::basic_string<char, ...>").
std::string type_name(const std::type_info& type);

template <class T>
const std::string& value_type_name() {
  static const std::string name = type_name(typeid(T));
  return name;
}

}  // namespace troupe::ipc
