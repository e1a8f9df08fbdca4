// Rule: results are task values (or void); a raw pointer is not one.
// expect: troupe: a task's result type is not a task value
#include <string>

#include "troupe/messages/task_registry.hpp"

#ifdef TROUPE_COMPILE_FAIL
const char* name(int64_t) {
  return "x";
}
#else
std::string name(int64_t) {
  return "x";
}
#endif

int main() {
  troupe::task_registry tasks;
  tasks.add("name", name);
}
