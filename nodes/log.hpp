// Logging for troupe's runtime (spdlog). One logger per process, named after the node, so the
// lines of a head and its workers can be told apart when they share a terminal.
//
// Rejections of hostile or broken input go through log::rejected(), which logs each kind of
// rejection once per interval with a count of what it held back, so a flood cannot flood the log.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace troupe::log {

/// Sets up the process logger; level is one of trace, debug, info, warn, error, critical, off.
/// Returns false for an unknown level name.
bool init(const std::string& node_name, const std::string& level);

spdlog::logger& get();

/// Logs "rejected <what>: <detail>" at warn level, at most once per `interval` per `what`.
void rejected(std::string_view what, const std::string& detail,
              std::chrono::seconds interval = std::chrono::seconds{5});

/// Forgets which rejections were reported (tests that check the log start afresh).
void forget_rejections();

/// Sends libprotobuf's own messages (e.g. "invalid UTF-8" for every hostile string field)
/// through rejected(), so that a peer cannot flood stderr with them. Idempotent.
void route_protobuf_messages();

}  // namespace troupe::log
