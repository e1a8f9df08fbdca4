// Rule: what a worker writes into a parameter never comes back; a non-const reference is refused.
// expect: troupe: a task's parameter is a non-const reference
#include <vector>

#include "troupe/messages/task_registry.hpp"

#ifdef TROUPE_COMPILE_FAIL
void sort_in_place(std::vector<int64_t>& v) {
  v.clear();
}
#else
std::vector<int64_t> sort_in_place(std::vector<int64_t> v) {
  return v;
}
#endif

int main() {
  troupe::task_registry tasks;
  tasks.add("sort", sort_in_place);
}
