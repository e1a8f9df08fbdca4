// The per-user cluster secret of this machine (a "cookie", as in Erlang). A head that listens
// on loopback without a secret, and the workers that join it from the same machine, share a
// random secret kept in a file only this user can read: other local users can neither join the
// head nor pose as it. It lives in $XDG_RUNTIME_DIR/troupe/cookie when XDG_RUNTIME_DIR is set
// and usable (a directory of this user's, mode 0700), else in ~/.troupe/cookie.
#pragma once

#include <string>

#include <caf/expected.hpp>

namespace troupe {

/// This user's cookie, created first if there is none (two processes creating it at once agree
/// on one). Fails with errc::auth_failed, saying what to fix, if its directory or file belongs
/// to another user, can be accessed by group or others, or is not a plain directory or file.
caf::expected<std::string> local_cookie();

}  // namespace troupe
