#include "troupe/nodes/ipc/value_type.hpp"

#include <cxxabi.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::ipc {
namespace {

// The types channels carry most, by the names their users write.
const char* common_name(const std::type_info& type) {
  static const std::pair<const std::type_info*, const char*> common[] = {
      {&typeid(std::string), "std::string"},
      {&typeid(int64_t), "int64_t"},
      {&typeid(int32_t), "int32_t"},
      {&typeid(uint64_t), "uint64_t"},
      {&typeid(uint32_t), "uint32_t"},
      {&typeid(double), "double"},
      {&typeid(float), "float"},
      {&typeid(bool), "bool"},
      {&typeid(std::vector<uint8_t>), "std::vector<uint8_t>"},
      {&typeid(std::vector<std::string>), "std::vector<std::string>"},
      {&typeid(std::vector<int64_t>), "std::vector<int64_t>"},
      {&typeid(std::vector<double>), "std::vector<double>"},
  };
  for (auto& [t, name] : common)
    if (*t == type)
      return name;
  return nullptr;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// Drops a defaulted template argument (", std::allocator<...>"), brackets balanced.
void drop_argument(std::string& s, std::string_view opening) {
  for (auto at = s.find(opening); at != std::string::npos; at = s.find(opening, at)) {
    size_t depth = 1;
    auto end = at + opening.size();
    for (; end < s.size() && depth > 0; ++end)
      depth += s[end] == '<' ? 1 : s[end] == '>' ? -1 : 0;
    if (depth > 0)
      return;  // not a name we understand: leave the rest as it is
    s.erase(at, end - at);
  }
}

// "std::vector<std::__cxx11::basic_string<char, ...>, std::allocator<...> >" as written:
// "std::vector<std::string>".
std::string shortened(std::string name) {
  replace_all(name,
              "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >",
              "std::string");
  replace_all(name, "std::__cxx11::", "std::");
  drop_argument(name, ", std::allocator<");
  drop_argument(name, ", std::less<");
  drop_argument(name, ", std::hash<");
  drop_argument(name, ", std::equal_to<");
  replace_all(name, " >", ">");
  return name;
}

}  // namespace

std::string type_name(const std::type_info& type) {
  if (const auto* name = common_name(type))
    return name;
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free};
  return status == 0 && name ? shortened(name.get()) : std::string{type.name()};
}

}  // namespace troupe::ipc
