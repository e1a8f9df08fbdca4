#include "troupe/messages/error.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

#include "troupe/messages/exceptions.hpp"

namespace troupe {

task_error::task_error(caf::error err)
    : std::runtime_error(describe(err)), error_(std::move(err)) {}

caf::error make_error(errc code, std::string context) {
  if (context.empty())
    return caf::error{static_cast<uint8_t>(code), error_category};
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(context))};
}

bool is(const caf::error& err, errc code) {
  return err.category() == error_category && err.code() == static_cast<uint8_t>(code);
}

caf::error make_task_failure(std::string type, std::string what, std::string context) {
  return caf::error{static_cast<uint8_t>(errc::task_failed), error_category,
                    caf::make_message(std::move(type), std::move(what), std::move(context))};
}

std::optional<task_failure_info> task_failure_of(const caf::error& err) {
  if (!is(err, errc::task_failed))
    return std::nullopt;
  const auto& ctx = err.context();
  if (ctx.size() != 3 || !ctx.match_elements<std::string, std::string, std::string>())
    return std::nullopt;
  return task_failure_info{ctx.get_as<std::string>(0), ctx.get_as<std::string>(1),
                           ctx.get_as<std::string>(2)};
}

void throw_error(const caf::error& err) {
  if (auto failure = task_failure_of(err))
    throw_standard_exception(failure->type, failure->what);
  throw task_error{err};
}

namespace {

std::string context_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.empty())
    return {};
  if (auto failure = task_failure_of(err)) {
    // "std::out_of_range: index 7; task lookup, item 3"
    auto text = failure->type + ": " + failure->what;
    if (!failure->context.empty())
      text += "; " + failure->context;
    return text;
  }
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return to_string(ctx);
}

}  // namespace

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  std::string out;
  if (err.category() == error_category) {
    out = "troupe: ";
    out += to_string(static_cast<errc>(err.code()));
  } else if (err.category() == caf::atom("system")) {
    out = "system: ";
    out += to_string(static_cast<caf::sec>(err.code()));
  } else {
    out = to_string(err.category());
    out += ": code ";
    out += std::to_string(err.code());
  }
  auto ctx = context_text(err);
  if (!ctx.empty()) {
    out += " (";
    out += ctx;
    out += ")";
  }
  return out;
}

}  // namespace troupe
