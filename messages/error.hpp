// troupe errors as caf::error values: category "troupe", code from errc.hpp. Make one with
// make_error(errc, context); render it with to_string(err) on an actor system that has a
// troupe::config, or with troupe::describe(err) anywhere.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include "troupe/messages/errc.hpp"

namespace troupe {

/// The error category atom of troupe errors.
constexpr caf::atom_value error_category = caf::atom("troupe");

/// Makes a troupe error; `context` is free text for humans (a type name, an exception message).
caf::error make_error(errc code, std::string context = {});

/// True if `err` is the troupe error `code`.
bool is(const caf::error& err, errc code);

/// Renders any error (troupe, CAF system, or other) as "category: code (context)".
std::string describe(const caf::error& err);

}  // namespace troupe
