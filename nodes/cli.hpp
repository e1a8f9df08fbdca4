// The command line's building blocks on CLI11, shared by troupe::run's own flags and a
// program's (troupe::flags). Internal: CLI11 stays out of the installed headers.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "troupe/nodes/flags.hpp"

namespace troupe::detail {

/// Checked on the text, before CLI11 converts it: an unsigned target would take "-3" as 2^64-3.
CLI::Validator in_range(int64_t min, int64_t max, const std::string& what);

/// Rejects a leading minus sign (for unsigned options without a range).
CLI::Validator not_negative();

/// The environment variable of a flag: --max-frame-size -> TROUPE_MAX_FRAME_SIZE.
std::string env_name(const std::string& flag);

struct flags_access {
  static flags make(CLI::App& app) {
    return flags{&app};
  }
};

}  // namespace troupe::detail
