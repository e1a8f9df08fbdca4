// Starts tests/nodes/wire_peer.py, the Python peer written from docs/protocol.md, against a
// node listening on 127.0.0.1:port.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace troupe::test {

/// Debian's interpreter, where python3-protobuf lives (a python3 earlier on PATH, such as a
/// pyenv shim, may lack it); TROUPE_PYTHON overrides it.
inline std::string python() {
  const char* chosen = std::getenv("TROUPE_PYTHON");
  return chosen && *chosen ? chosen : "/usr/bin/python3";
}

inline subprocess start_wire_peer(uint16_t port, const std::vector<std::string>& args) {
  std::vector<std::string> command{python(),
                                   std::string{TROUPE_SOURCE_DIR} + "/tests/nodes/wire_peer.py",
                                   "--connect", "127.0.0.1:" + std::to_string(port)};
  command.insert(command.end(), args.begin(), args.end());
  return start(command);
}

}  // namespace troupe::test
