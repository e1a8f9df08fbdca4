// troupe::flags: a program's own command-line flags, parsed with troupe's (program::options).
//
//   prog.options = [](troupe::flags& f) {
//     f.option("--width", opts.width, "image width in pixels").range(1, 16384);
//     f.option("-o,--out", opts.out, "PNG file to write");
//     f.option("--only", opts.only, "measure just this metric").one_of({"rtt", "pool"});
//     f.flag("--compare", opts.compare, "also render in-process");
//   };
//
// Each option is bound to a variable whose value before parsing is the default shown by --help.
// Names are "--long" or "-s,--long". Numbers are checked on the text: "-3" for an unsigned
// option is a usage error, never a wrapped value. Like troupe's own flags, every option can also
// come from the environment as TROUPE_<NAME> (--out: TROUPE_OUT), except in worker processes a
// head starts, which take their flags from the head only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace troupe {

namespace detail {
struct flags_access;
}

class flags {
public:
  /// Refines the option just added.
  class option_ref {
  public:
    /// Numbers only: accept values from min to max (inclusive).
    option_ref& range(double min, double max);
    /// Accept only these values.
    option_ref& one_of(std::vector<std::string> values);

  private:
    friend class flags;
    explicit option_ref(void* option) : option_(option) {}
    void* option_;
  };

  option_ref option(const std::string& names, std::string& value, const std::string& help);
  option_ref option(const std::string& names, int& value, const std::string& help);
  option_ref option(const std::string& names, unsigned& value, const std::string& help);
  option_ref option(const std::string& names, long& value, const std::string& help);
  option_ref option(const std::string& names, unsigned long& value, const std::string& help);
  option_ref option(const std::string& names, long long& value, const std::string& help);
  option_ref option(const std::string& names, unsigned long long& value, const std::string& help);
  option_ref option(const std::string& names, double& value, const std::string& help);
  option_ref option(const std::string& names, std::vector<std::string>& values,
                    const std::string& help);

  /// A switch without a value: true when given.
  void flag(const std::string& names, bool& value, const std::string& help);

private:
  friend struct detail::flags_access;
  explicit flags(void* app) : app_(app) {}
  void* app_;  // the CLI11 application troupe::run parses (CLI11 stays out of this header)
};

}  // namespace troupe
