// Checks of a refusal for a value over the frame limit (queue, pipe and pool tests).
#pragma once

#include <cstddef>
#include <string>

namespace troupe::test {

/// True if `said` names a size from `bytes` to a little over it: a value's encoded size, which
/// adds a few bytes of framing to the value's own.
inline bool names_a_size_just_over(const std::string& said, size_t bytes) {
  constexpr const char* digits = "0123456789";
  for (auto at = said.find_first_of(digits); at != std::string::npos;) {
    auto end = said.find_first_not_of(digits, at);
    auto n = std::stoull(said.substr(at, end == std::string::npos ? end : end - at));
    if (n >= bytes && n < bytes + 64)
      return true;
    at = end == std::string::npos ? end : said.find_first_of(digits, end);
  }
  return false;
}

}  // namespace troupe::test
