// Rule: a task holds no state; a lambda that captures is refused.
// expect: troupe: a task must hold no state
#include "troupe/messages/task_registry.hpp"

int main() {
  troupe::task_registry tasks;
  int64_t offset = 1;
#ifdef TROUPE_COMPILE_FAIL
  tasks.add("shift", [offset](int64_t x) { return x + offset; });
#else
  tasks.add("shift", [](int64_t x) { return x + 1; });
#endif
  return static_cast<int>(offset);
}
