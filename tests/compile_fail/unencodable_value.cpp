// Rule: encode/decode take task values; a struct without TROUPE_FIELDS is not one.
// expect: troupe: encode/decode take a task value, and this type is not one
#include <string>

#include "troupe/messages/codec.hpp"

struct point {
  double x = 0;
  double y = 0;
};
#ifndef TROUPE_COMPILE_FAIL
TROUPE_FIELDS(point, x, y);
#endif

int main() {
  point p;
  std::string bytes = troupe::encode(p);
  return troupe::decode(bytes, p) ? 0 : 1;
}
