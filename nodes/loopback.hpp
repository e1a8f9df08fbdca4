// Whether a listening address can be reached only from this machine. Decided by what the name
// resolves to, never by how it is spelled: "127.evil.example" may resolve to any address.
#pragma once

#include <optional>
#include <string>

namespace troupe {

/// Resolves `host` as an address to listen on. If every address it resolves to is a loopback
/// address (127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6), returns the first one in numeric
/// form; bind that rather than the name, so that what is bound is what was checked. Otherwise,
/// or if `host` does not resolve, returns nullopt.
std::optional<std::string> loopback_address(const std::string& host);

}  // namespace troupe
