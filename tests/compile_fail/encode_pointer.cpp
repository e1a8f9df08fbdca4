// Rule: a pointer is not a task value (the address means nothing in another process).
// expect: troupe: encode/decode take a task value, and this type is not one
#include <string>

#include "troupe/messages/codec.hpp"

int main() {
  int x = 1;
#ifdef TROUPE_COMPILE_FAIL
  std::string bytes = troupe::encode(&x);
#else
  std::string bytes = troupe::encode(x);
#endif
  return bytes.empty() ? 1 : 0;
}
