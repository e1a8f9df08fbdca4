// The TCP listener: spawn_listener (nodes/connection.hpp).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/io/network/default_multiplexer.hpp>

#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/connection.hpp"
#include "troupe/nodes/connection/broker.hpp"
#include "troupe/nodes/log.hpp"

namespace troupe::detail {
namespace {

std::string peer_address(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return "unknown peer";
  char text[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
  }
  return std::string{text} + ":" + std::to_string(port);
}

// Accepts TCP connections on a thread of its own rather than with CAF's doorman, to decide what
// happens when accept fails: at the descriptor limit (EMFILE) the listening socket stays
// readable, and the doorman retries at once, forever, spinning a core. This loop pauses
// accepting instead, 100 ms at first, doubling up to 1 s, and says so in the log (rate-limited).
// The pending connections wait in the kernel's backlog meanwhile.
class accept_loop {
public:
  using config_maker = std::function<connection_config(const std::string& remote)>;

  accept_loop(caf::actor_system& sys, int listen_fd, uint16_t port, config_maker make_config)
      : sys_(sys),
        listen_fd_(listen_fd),
        port_(port),
        make_config_(std::move(make_config)),
        wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread{[this] { run(); }};
  }

  accept_loop(const accept_loop&) = delete;
  accept_loop& operator=(const accept_loop&) = delete;

  ~accept_loop() {
    uint64_t one = 1;
    static_cast<void>(!::write(wake_fd_, &one, sizeof(one)));
    thread_.join();
    ::close(wake_fd_);
    ::close(listen_fd_);
  }

private:
  static constexpr auto first_pause = std::chrono::milliseconds{100};
  static constexpr auto longest_pause = std::chrono::milliseconds{1000};

  // Waits for the listening socket (or only for `pause`, if set); false once told to stop.
  bool wait(std::optional<std::chrono::milliseconds> pause) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (;;) {
      int n = ::poll(fds, pause ? 1 : 2, pause ? static_cast<int>(pause->count()) : -1);
      if (n < 0 && errno == EINTR)
        continue;
      return n >= 0 && (fds[0].revents & POLLIN) == 0;
    }
  }

  void run() {
    std::optional<std::chrono::milliseconds> pause;
    while (wait(pause)) {
      pause.reset();
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        backoff_ = first_pause;
        adopt(fd);
        continue;
      }
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED
          || err == EPROTO || err == EPERM)
        continue;  // this one connection failed, or none was there after all
      // Out of descriptors or memory: nothing can be accepted until some are free.
      log::rejected("connections", "cannot accept on port " + std::to_string(port_) + ": "
                                       + std::strerror(err) + "; not accepting for "
                                       + std::to_string(backoff_.count()) + " ms");
      pause = backoff_;
      backoff_ = std::min(backoff_ * 2, longest_pause);
    }
  }

  void adopt(int fd) {
    auto remote = peer_address(fd);
    auto cfg = make_config_("tcp " + remote);
    if (cfg.limits && !cfg.limits->try_open()) {
      auto detail = remote + ": this node has " + std::to_string(cfg.limits->max_connections())
                    + " connections open, its limit (--max-connections)";
      log::rejected("connection", detail);
      if (!cfg.tls) {
        // Plain TCP: the peer can read why (a TLS peer expects its handshake first).
        wire::Goodbye bye;
        bye.set_code(static_cast<uint32_t>(errc::too_many));
        bye.set_reason("refused: " + detail);
        std::vector<char> out;
        wire::append_frame(out, wire::kind::goodbye, bye);
        static_cast<void>(::send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL));
      }
      ::close(fd);
      return;
    }
    start_connection(sys_, fd, std::move(cfg));
  }

  caf::actor_system& sys_;
  int listen_fd_;
  uint16_t port_;
  config_maker make_config_;
  int wake_fd_;
  std::chrono::milliseconds backoff_ = first_pause;
  std::thread thread_;
};

// The listener as an actor, so that the node stops it like its other actors: its exit stops the
// accept loop and closes the listening socket.
caf::behavior listener_main(caf::event_based_actor* self) {
  return {
      [self](close_listener_atom) { self->quit(); },
  };
}

}  // namespace

caf::expected<std::pair<caf::actor, uint16_t>> spawn_listener(
    caf::actor_system& sys, const std::string& host, uint16_t port,
    std::function<connection_config(const std::string&)> make_config) {
  // Bind here, so the caller learns the port (or the error) now. CAF's binding rules (which
  // addresses a host name means); SO_REUSEADDR: a restarted head gets its port back despite
  // connections in TIME_WAIT.
  auto fd = caf::io::network::new_tcp_acceptor_impl(port, host.c_str(), true);
  if (!fd)
    return std::move(fd.error());
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  int flags = ::fcntl(*fd, F_GETFL);
  if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || flags < 0
      || ::fcntl(*fd, F_SETFD, FD_CLOEXEC) != 0 || ::fcntl(*fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    auto err = make_error(errc::connect_failed, "cannot set up the listening socket on " + host
                                                    + ": " + std::strerror(errno));
    ::close(*fd);
    return err;
  }
  auto bound_port =
      ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  auto listener = sys.spawn(listener_main);
  auto loop = std::make_shared<accept_loop>(sys, *fd, bound_port, std::move(make_config));
  // The only owner of the loop: its destructor stops and joins the thread.
  listener->attach_functor([loop]() mutable { loop.reset(); });
  return std::make_pair(std::move(listener), bound_port);
}

}  // namespace troupe::detail
