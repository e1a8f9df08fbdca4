#include "troupe/nodes/flags.hpp"

#include <cctype>
#include <cmath>
#include <sstream>
#include <type_traits>

#include "troupe/nodes/cli.hpp"

namespace troupe {
namespace detail {

CLI::Validator in_range(int64_t min, int64_t max, const std::string& what) {
  return CLI::Validator{[min, max, what](std::string& text) -> std::string {
                          int64_t value = 0;
                          size_t used = 0;
                          try {
                            value = std::stoll(text, &used, 10);
                          } catch (const std::exception&) {
                            used = 0;
                          }
                          if (used == 0 || used != text.size() || value < min || value > max)
                            return "expects " + what + " from " + std::to_string(min) + " to "
                                   + std::to_string(max) + ", got '" + text + "'";
                          return {};
                        },
                        std::to_string(min) + ".." + std::to_string(max)};
}

CLI::Validator not_negative() {
  return CLI::Validator{[](std::string& text) -> std::string {
                          for (char c : text) {
                            if (std::isspace(static_cast<unsigned char>(c)))
                              continue;
                            if (c == '-')
                              return "expects a number of zero or more, got '" + text + "'";
                            break;
                          }
                          return {};
                        },
                        ""};
}

std::string env_name(const std::string& flag) {
  std::string name = "TROUPE_";
  for (char c : flag.substr(flag.find_first_not_of('-')))
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace detail

namespace {

CLI::App& app_of(void* app) {
  return *static_cast<CLI::App*>(app);
}

CLI::Option& option_of(void* option) {
  return *static_cast<CLI::Option*>(option);
}

// The whole text is a number of T's kind, so the error names the flag and says what it expects
// ("--workers: expects a whole number, got '1x'") rather than CLI11's "Could not convert".
template <class T>
CLI::Validator number_text() {
  return CLI::Validator{[](std::string& text) -> std::string {
                          size_t used = 0;
                          try {
                            if constexpr (std::is_floating_point_v<T>) {
                              // "nan" and "inf" parse, but no flag means them.
                              if (!std::isfinite(std::stod(text, &used)))
                                used = 0;
                            } else {
                              std::stoll(text, &used, 10);
                            }
                          } catch (const std::out_of_range&) {
                            return {};  // the range check or CLI11's conversion reports it
                          } catch (const std::exception&) {
                            used = 0;
                          }
                          if (used == 0 || used != text.size())
                            return std::string{"expects "}
                                   + (std::is_floating_point_v<T> ? "a number" : "a whole number")
                                   + ", got '" + text + "'";
                          return {};
                        },
                        ""};
}

template <class T>
CLI::Option* add(void* app, const std::string& names, T& value, const std::string& help) {
  auto* opt = app_of(app).add_option(names, value, help);
  opt->envname(detail::env_name(opt->get_name()))->capture_default_str();
  if constexpr (std::is_arithmetic_v<T>)
    opt->check(number_text<T>());
  if constexpr (std::is_unsigned_v<T>)
    opt->check(detail::not_negative());
  return opt;
}

// "20000", not "2e+04"; "0.5" stays "0.5".
std::string format_bound(double value) {
  if (std::trunc(value) == value && std::fabs(value) < 1e15)
    return std::to_string(static_cast<long long>(value));
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

flags::option_ref& flags::option_ref::range(double min, double max) {
  auto what = "a number";
  option_of(option_).check(CLI::Validator{
      [min, max, what](std::string& text) -> std::string {
        double value = 0;
        size_t used = 0;
        try {
          value = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size() || !std::isfinite(value) || value < min || value > max)
          return std::string{"expects "} + what + " from " + format_bound(min) + " to "
                 + format_bound(max) + ", got '" + text + "'";
        return {};
      },
      format_bound(min) + ".." + format_bound(max)});
  return *this;
}

flags::option_ref& flags::option_ref::one_of(std::vector<std::string> values) {
  option_of(option_).check(CLI::IsMember(std::move(values)));
  return *this;
}

#define TROUPE_FLAGS_OPTION(type)                                        \
  flags::option_ref flags::option(const std::string& names, type& value, \
                                  const std::string& help) {             \
    return option_ref{add(app_, names, value, help)};                    \
  }
TROUPE_FLAGS_OPTION(std::string)
TROUPE_FLAGS_OPTION(int)
TROUPE_FLAGS_OPTION(unsigned)
TROUPE_FLAGS_OPTION(long)
TROUPE_FLAGS_OPTION(unsigned long)
TROUPE_FLAGS_OPTION(long long)
TROUPE_FLAGS_OPTION(unsigned long long)
TROUPE_FLAGS_OPTION(double)
TROUPE_FLAGS_OPTION(std::vector<std::string>)
#undef TROUPE_FLAGS_OPTION

void flags::flag(const std::string& names, bool& value, const std::string& help) {
  auto* opt = app_of(app_).add_flag(names, value, help);
  opt->envname(detail::env_name(opt->get_name()));
}

}  // namespace troupe
