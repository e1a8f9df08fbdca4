// Rule: a call passes one argument per parameter.
// expect: troupe: the call passes another number of arguments than the task has parameters
#include <string>

#include "troupe/actors/future.hpp"
#include "troupe/messages/detail/task_call.hpp"

std::string formatter(const std::string& a, int64_t b) {
  return a + std::to_string(b);
}

int main() {
  std::string items;
#ifdef TROUPE_COMPILE_FAIL
  troupe::detail::append_call<decltype(&formatter)>(items, "Hello");
#else
  troupe::detail::append_call<decltype(&formatter)>(items, "Hello", 1);
#endif
}
