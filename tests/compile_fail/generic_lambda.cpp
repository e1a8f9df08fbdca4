// Rule: a task has one signature; a generic lambda is refused.
// expect: troupe: a task must be a function, a captureless lambda or a function object with
#include "troupe/messages/task_registry.hpp"

int main() {
  troupe::task_registry tasks;
#ifdef TROUPE_COMPILE_FAIL
  tasks.add("identity", [](auto x) { return x; });
#else
  tasks.add("identity", [](int64_t x) { return x; });
#endif
}
