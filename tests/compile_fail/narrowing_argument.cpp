// Rule: arguments convert to their parameter's type only where a C++ call is safe: no narrowing.
// expect: troupe: an argument does not convert to its task parameter's type, or only by narrowing
#include <cstdint>
#include <vector>

#include "troupe/actors/future.hpp"
#include "troupe/messages/detail/task_call.hpp"

int64_t sum(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (auto x : v)
    s += x;
  return s;
}

int main() {
  std::string items;
#ifdef TROUPE_COMPILE_FAIL
  std::vector<int> values{1, 2};
#else
  std::vector<int64_t> values{1, 2};
#endif
  troupe::detail::append_call<decltype(&sum)>(items, values);
}
