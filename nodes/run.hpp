// troupe::run: the main() of a troupe program. One binary plays every role:
//
//   prog [flags]                      the head: runs program.main
//   prog --listen 127.0.0.1:4000      the head, also accepting worker nodes over TCP
//   prog --join HOST:PORT             a worker node joining a head (reconnects with backoff)
//   (internal) --troupe-worker-fd 3   a worker process started by a head over a socketpair
//
//   int main(int argc, char** argv) {
//     troupe::program prog{"demo", "what it does"};
//     prog.setup = [](troupe::config& cfg) { cfg.add_messages<my::Job>(); ... };
//     prog.main = [](troupe::node& node, const troupe::head_options& head) { ...; return 0; };
//     return troupe::run(argc, argv, prog);
//   }
//
// setup runs in every process (head and workers) so both know the same messages, actor types
// and tasks. Bad flags print the usage and exit with status 2. SIGTERM and SIGINT end the
// process cleanly (peers get a Goodbye; worker processes of a head exit with it).
#pragma once

#include <functional>
#include <string>

#include "troupe/messages/config.hpp"
#include "troupe/nodes/flags.hpp"
#include "troupe/nodes/node.hpp"

namespace troupe {

/// The head's share of the command line.
struct head_options {
  size_t workers = 0;        // --workers: worker processes to start (default: one per core)
  std::string listen;        // --listen ADDR:PORT, empty if not listening
  uint16_t listen_port = 0;  // the bound port when listening (port 0 picks one)
};

struct program {
  std::string name;
  std::string description;
  /// Registers messages, actor types and tasks; runs in every process.
  std::function<void(config&)> setup;
  /// Adds the program's own flags (see flags.hpp), parsed with troupe's.
  std::function<void(flags&)> options;
  /// The head's body; its return value is the exit status.
  std::function<int(node&, const head_options&)> main;
};

int run(int argc, char** argv, const program& prog);

/// Splits "host:port" ("[v6]:port" too); false if malformed.
bool parse_endpoint(const std::string& text, std::string& host, uint16_t& port);

}  // namespace troupe
