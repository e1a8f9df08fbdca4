// Exceptions across processes: the name a task's exception is recorded with on the worker, and
// the standard exception rebuilt from that name on the head.
//
// The standard family (std::runtime_error, std::invalid_argument, std::out_of_range,
// std::logic_error, std::domain_error, std::length_error, std::range_error,
// std::overflow_error, std::underflow_error, std::bad_alloc, std::bad_cast, ...) is recorded by
// its standard name when the exception is exactly that type; anything else, a class derived
// from one of them included, by its demangled type name, and arrives as troupe::task_error
// naming it (messages/error.hpp, throw_error).
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

namespace troupe {

/// The readable name of a type ("std::vector<long, std::allocator<long> >"...).
std::string type_name(const std::type_info& type);

template <class T>
std::string type_name() {
  return type_name(typeid(T));
}

/// The name `ex` is recorded with: its standard name, or its demangled type name.
std::string exception_type_name(const std::exception& ex);

/// Inside a catch (...): the name of the exception being handled ("int" for `throw 42`).
std::string current_exception_type_name();

/// Throws the standard exception named `type` with the message `what` (what() of the types
/// without a message constructor is their fixed text); returns if `type` is not one of the
/// standard family.
void throw_standard_exception(std::string_view type, const std::string& what);

}  // namespace troupe
