#include "troupe/nodes/cookie.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "troupe/messages/error.hpp"

namespace troupe {
namespace {

caf::error refuse(const std::string& what) {
  return make_error(errc::auth_failed, "cannot use the troupe cookie: " + what);
}

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// Only this user may own it, and nobody else may read, write or enter it.
caf::error check_private(const std::string& path, const struct stat& st) {
  if (st.st_uid != geteuid())
    return refuse(path + " belongs to uid " + std::to_string(st.st_uid) + ", not to you (uid "
                  + std::to_string(geteuid()) + ")");
  if ((st.st_mode & 077) != 0)
    return refuse(path + " can be accessed by group or others (mode " + octal_mode(st.st_mode)
                  + "); chmod go= " + path);
  return {};
}

// The XDG base directory spec: the runtime directory belongs to the user and is mode 0700.
bool usable_runtime_dir(const char* dir) {
  struct stat st {};
  return dir != nullptr && dir[0] == '/' && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)
         && st.st_uid == geteuid() && (st.st_mode & 077) == 0 && access(dir, W_OK | X_OK) == 0;
}

caf::expected<std::string> cookie_directory() {
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); usable_runtime_dir(runtime))
    return std::string{runtime} + "/troupe";
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] == '\0') {
    auto* pw = getpwuid(geteuid());
    if (pw == nullptr || pw->pw_dir == nullptr)
      return refuse("neither XDG_RUNTIME_DIR nor HOME is set");
    home = pw->pw_dir;
  }
  return std::string{home} + "/.troupe";
}

caf::error make_private_directory(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return refuse(errno_text("cannot create " + dir));
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0)
    return refuse(errno_text(dir));
  if (!S_ISDIR(st.st_mode))
    return refuse(dir + " is not a directory");
  return check_private(dir, st);
}

// Reads the cookie; an empty result means there is no file yet.
caf::expected<std::string> read_cookie(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return std::string{};
    return refuse(errno_text(path));
  }
  struct stat st {};
  std::string cookie;
  caf::error problem;
  if (fstat(fd, &st) != 0)
    problem = refuse(errno_text(path));
  else if (!S_ISREG(st.st_mode))
    problem = refuse(path + " is not a regular file");
  else
    problem = check_private(path, st);
  char buf[256];
  ssize_t n = 0;
  while (!problem && (n = read(fd, buf, sizeof(buf))) > 0 && cookie.size() < 4096)
    cookie.append(buf, static_cast<size_t>(n));
  if (!problem && n < 0)
    problem = refuse(errno_text("cannot read " + path));
  close(fd);
  if (problem)
    return problem;
  while (!cookie.empty() && (cookie.back() == '\n' || cookie.back() == '\r'))
    cookie.pop_back();
  if (cookie.empty())
    return refuse(path + " is empty; remove it to get a new cookie");
  return cookie;
}

// Writes a fresh cookie under a temporary name, then links it into place: link() fails if the
// cookie exists, so of two processes creating it at once one wins and both read its cookie,
// and nobody ever reads a half-written file.
caf::error create_cookie(const std::string& dir, const std::string& path) {
  unsigned char random[32];
  if (getrandom(random, sizeof(random), 0) != static_cast<ssize_t>(sizeof(random)))
    return refuse(errno_text("getrandom"));
  std::string text;
  for (auto byte : random) {
    char hex[3];
    std::snprintf(hex, sizeof(hex), "%02x", byte);
    text += hex;
  }
  text += "\n";
  std::string temp = dir + "/.cookie.XXXXXX";
  int fd = mkostemp(temp.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0)
    return refuse(errno_text("cannot create a file in " + dir));
  bool written =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  caf::error problem;
  if (!written)
    problem = refuse(errno_text("cannot write " + temp));
  else if (link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST)
    problem = refuse(errno_text("cannot create " + path));
  unlink(temp.c_str());
  return problem;
}

}  // namespace

caf::expected<std::string> local_cookie() {
  auto dir = cookie_directory();
  if (!dir)
    return dir.error();
  if (auto problem = make_private_directory(*dir))
    return problem;
  auto path = *dir + "/cookie";
  auto cookie = read_cookie(path);
  if (!cookie || !cookie->empty())
    return cookie;
  if (auto problem = create_cookie(*dir, path))
    return problem;
  return read_cookie(path);
}

}  // namespace troupe
