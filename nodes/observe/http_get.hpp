// http_get: one GET of a dashboard's URL for --status (status.hpp), bounded in time and size
// whatever the server at the address does: silent, trickling, huge or not HTTP at all. Keeps
// Boost.Beast out of every other translation unit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace troupe::observe {

struct http_answer {
  int status = 0;  // 0: no status line came
  std::string body;
  std::string problem;         // why there is no whole answer, in words; empty if there is one
  bool past_deadline = false;  // the problem is that `deadline` passed
  bool too_large = false;      // the problem is a body over `max_body`
};

/// "127.0.0.1:8265", "[::1]:8265": how HOST:PORT is written in a Host header and on the command
/// line (an IPv6 address in brackets).
std::string host_and_port(const std::string& host, uint16_t port);

/// GETs `target` from HOST:PORT on the calling thread. Ends within `deadline` once HOST is
/// resolved (connecting, sending and reading together), refuses a body over `max_body` bytes,
/// and gives up on a server that sends nothing for a few seconds.
http_answer http_get(const std::string& host, uint16_t port, const std::string& target,
                     size_t max_body, std::chrono::seconds deadline);

}  // namespace troupe::observe
