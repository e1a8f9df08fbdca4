// troupe errors as caf::error values: category "troupe", code from errc.hpp. Make one with
// make_error(errc, context); render it with to_string(err) on an actor system that has a
// troupe::config, or with troupe::describe(err) anywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
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

/// The error of a task that raised: errc::task_failed carrying the exception's type name
/// (messages/exceptions.hpp: "std::out_of_range", or the demangled name of any other type), its
/// what(), and free text saying where (the task, the item).
caf::error make_task_failure(std::string type, std::string what, std::string context);

/// What make_task_failure put into an error.
struct task_failure_info {
  std::string type;
  std::string what;
  std::string context;
};

/// The parts of a make_task_failure error; nullopt for any other error.
std::optional<task_failure_info> task_failure_of(const caf::error& err);

/// Thrown by future::result() and throw_error() when the work failed with an error that is not a
/// standard exception (lost workers, cancellation, a remote task's exception of another type).
class task_error : public std::runtime_error {
public:
  explicit task_error(caf::error err);
  const caf::error& error() const noexcept {
    return error_;
  }

private:
  caf::error error_;
};

/// Throws `err` as an exception: a task failure of the standard family as that same type with
/// the same message (std::out_of_range, what() as on the worker); any other error, other
/// exception types included, as troupe::task_error, whose what() names the type.
[[noreturn]] void throw_error(const caf::error& err);

/// Renders any error (troupe, CAF system, or other) as "category: code (context)".
std::string describe(const caf::error& err);

}  // namespace troupe
