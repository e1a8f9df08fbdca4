// Rule: parameters are task values; a struct without TROUPE_FIELDS is not one.
// expect: troupe: a task's parameter type is not a task value
#include "troupe/messages/task_registry.hpp"

struct point {
  double x = 0;
  double y = 0;
};
#ifndef TROUPE_COMPILE_FAIL
TROUPE_FIELDS(point, x, y);
#endif

double norm(const point& p) {
  return p.x * p.x + p.y * p.y;
}

int main() {
  troupe::task_registry tasks;
  tasks.add("norm", norm);
}
