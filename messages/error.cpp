#include "troupe/messages/error.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace troupe {

caf::error make_error(errc code, std::string context) {
  if (context.empty())
    return caf::error{static_cast<uint8_t>(code), error_category};
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(context))};
}

bool is(const caf::error& err, errc code) {
  return err.category() == error_category && err.code() == static_cast<uint8_t>(code);
}

namespace {

std::string context_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.empty())
    return {};
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
