#include "troupe/messages/exceptions.hpp"

#include <any>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <typeindex>
#include <variant>

#include <cxxabi.h>

namespace troupe {

namespace {

struct standard_exception {
  const std::type_info& type;
  const char* name;
  void (*raise)(const std::string& what);
};

template <class E>
void raise_with_message(const std::string& what) {
  throw E{what};
}

template <class E>
void raise_fixed(const std::string&) {
  throw E{};
}

// Exact types only: a subclass is not the standard type, and is named as itself.
const standard_exception standard_exceptions[] = {
    {typeid(std::runtime_error), "std::runtime_error", raise_with_message<std::runtime_error>},
    {typeid(std::logic_error), "std::logic_error", raise_with_message<std::logic_error>},
    {typeid(std::invalid_argument), "std::invalid_argument",
     raise_with_message<std::invalid_argument>},
    {typeid(std::out_of_range), "std::out_of_range", raise_with_message<std::out_of_range>},
    {typeid(std::domain_error), "std::domain_error", raise_with_message<std::domain_error>},
    {typeid(std::length_error), "std::length_error", raise_with_message<std::length_error>},
    {typeid(std::range_error), "std::range_error", raise_with_message<std::range_error>},
    {typeid(std::overflow_error), "std::overflow_error", raise_with_message<std::overflow_error>},
    {typeid(std::underflow_error), "std::underflow_error",
     raise_with_message<std::underflow_error>},
    {typeid(std::bad_alloc), "std::bad_alloc", raise_fixed<std::bad_alloc>},
    {typeid(std::bad_array_new_length), "std::bad_array_new_length",
     raise_fixed<std::bad_array_new_length>},
    {typeid(std::bad_cast), "std::bad_cast", raise_fixed<std::bad_cast>},
    {typeid(std::bad_typeid), "std::bad_typeid", raise_fixed<std::bad_typeid>},
    {typeid(std::bad_exception), "std::bad_exception", raise_fixed<std::bad_exception>},
    {typeid(std::bad_function_call), "std::bad_function_call", raise_fixed<std::bad_function_call>},
    {typeid(std::bad_optional_access), "std::bad_optional_access",
     raise_fixed<std::bad_optional_access>},
    {typeid(std::bad_variant_access), "std::bad_variant_access",
     raise_fixed<std::bad_variant_access>},
    {typeid(std::bad_any_cast), "std::bad_any_cast", raise_fixed<std::bad_any_cast>},
    {typeid(std::bad_weak_ptr), "std::bad_weak_ptr", raise_fixed<std::bad_weak_ptr>},
    {typeid(std::exception), "std::exception", raise_fixed<std::exception>},
};

}  // namespace

std::string type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name{
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), &std::free};
  return status == 0 && name ? std::string{name.get()} : std::string{type.name()};
}

std::string exception_type_name(const std::exception& ex) {
  const std::type_info& type = typeid(ex);
  for (const auto& standard : standard_exceptions)
    if (standard.type == type)
      return standard.name;
  return type_name(type);
}

std::string current_exception_type_name() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  return type ? type_name(*type) : std::string{"unknown"};
}

void throw_standard_exception(std::string_view type, const std::string& what) {
  for (const auto& standard : standard_exceptions)
    if (type == standard.name)
      standard.raise(what);
}

}  // namespace troupe
