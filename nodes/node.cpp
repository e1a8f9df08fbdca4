#include "troupe/nodes/node.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <caf/scoped_actor.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/nodes/connection.hpp"
#include "troupe/nodes/frame_limit.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/loopback.hpp"
#include "troupe/nodes/node_manager.hpp"
#include "troupe/nodes/node_protocol.hpp"

namespace troupe {
namespace {

using detail::adopt_atom;
using detail::await_atom;
using detail::listen_atom;
using detail::peers_atom;
using detail::start_worker_atom;
using detail::stop_atom;

// -- joining over TCP -----------------------------------------------------------------------------

std::string errno_text(const char* what) {
  return std::string{what} + ": " + std::strerror(errno);
}

// Connects once, giving up after `timeout`. Returns the socket or an errno text.
caf::expected<int> tcp_connect_once(const std::string& host, uint16_t port,
                                    std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return make_error(errc::connect_failed, "cannot resolve " + host + ": " + gai_strerror(rc));
  std::string last = "no address";
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = errno_text("socket");
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = errno_text("connect");
      close(fd);
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    int ready = poll(&p, 1, static_cast<int>(timeout.count()));
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) {
      freeaddrinfo(found);
      return fd;
    }
    last = ready == 0 ? "connect: timed out" : std::string{"connect: "} + std::strerror(soerr);
    close(fd);
  }
  freeaddrinfo(found);
  return make_error(errc::connect_failed, host + ":" + service + ": " + last);
}

wire::identity make_identity(caf::actor_system& sys, const std::string& name) {
  wire::identity id;
  id.name = name;
  id.process_id = static_cast<uint32_t>(getpid());
  const auto& nid = sys.node();
  if (nid && nid->implementation_id() == caf::node_id::default_data::class_id) {
    auto host = static_cast<const caf::node_id::default_data&>(*nid).host_id();
    id.host_id.assign(host.begin(), host.end());
  }
  return id;
}

template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const caf::actor& dest,
                     std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> result{make_error(errc::connect_failed, "no answer")};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& value) { result = std::move(value); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

}  // namespace

node_error::node_error(caf::error err)
    : std::runtime_error("node does not answer: " + describe(err)), error_(std::move(err)) {}

const std::string& node::executable() {
  static const std::string path = [] {
    char buf[4096];
    auto n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{"/proc/self/exe"};
  }();
  return path;
}

node::node(caf::actor_system& sys, node_options opts) : sys_(sys), opts_(std::move(opts)) {
  log::route_protobuf_messages();
  std::shared_ptr<wire::tls_context> tls;
  if (opts_.tls.enabled()) {
    tls = wire::tls_context::make(opts_.tls, tls_error_);
    if (!tls)
      log::get().error("TLS is not usable: {}", tls_error_);
  }
  manager_ = detail::spawn_node_manager(sys_, opts_, make_identity(sys_, opts_.name), tls);
  detail::register_frame_limit(sys_, opts_.max_frame_size);
}

node::~node() {
  detail::unregister_frame_limit(sys_, opts_.max_frame_size);
  caf::scoped_actor self{sys_};
  auto grace = std::chrono::duration_cast<caf::timespan>(std::chrono::seconds{2});
  // A destructor cannot report: say it, since worker processes may be left to their parent-death
  // signal and EOF then.
  self->request(manager_, std::chrono::seconds{10}, shutdown_atom::value, grace)
      .receive([](bool) {},
               [this](caf::error& err) {
                 log::get().error("node {}: shutting down failed: {}", opts_.name, describe(err));
               });
  self->send_exit(manager_, caf::exit_reason::user_shutdown);
}

caf::expected<peer> node::start_worker(std::chrono::milliseconds timeout) {
  return ask<peer>(sys_, manager_, timeout, start_worker_atom::value);
}

caf::expected<uint16_t> node::listen(const std::string& host, uint16_t port) {
  if (!tls_error_.empty())
    return make_error(errc::auth_failed, tls_error_);
  if (!opts_.secret.empty() || opts_.tls.enabled())
    return ask<uint16_t>(sys_, manager_, std::chrono::seconds{10}, listen_atom::value, host, port);
  // Without credentials only this machine may reach the port: every address the name resolves
  // to must be a loopback address, and the checked address is bound, not the name again.
  auto loopback = loopback_address(host);
  if (!loopback)
    return make_error(errc::auth_failed,
                      "refusing to listen on " + host
                        + " without credentials: it is not (or does not resolve only to) a "
                          "loopback address, and anyone who can reach it could run code here. "
                          "Set a cluster secret (--secret-file or TROUPE_SECRET) or TLS "
                          "certificates (--tls-ca, --tls-cert, --tls-key), or listen on "
                          "127.0.0.1");
  return ask<uint16_t>(sys_, manager_, std::chrono::seconds{10}, listen_atom::value, *loopback,
                       port);
}

caf::expected<peer> detail::node_access::adopt(node& n, int fd, std::string address,
                                               adopt_options opts) {
  return ask<peer>(n.sys_, n.manager_, opts.timeout, adopt_atom::value, fd, std::move(address),
                   opts);
}

caf::expected<peer> node::connect(const std::string& host, uint16_t port,
                                  std::chrono::milliseconds timeout) {
  if (!tls_error_.empty())
    return make_error(errc::auth_failed, tls_error_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto backoff = std::chrono::milliseconds{50};
  caf::error last;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    auto fd = tcp_connect_once(host, port, std::min(left, std::chrono::milliseconds{2000}));
    if (fd) {
      auto joined =
          detail::node_access::adopt(*this, *fd, "tcp " + host + ":" + std::to_string(port),
                                     {.role = wire::role::connector,
                                      .kind = detail::link_kind::tcp,
                                      .timeout = std::max(left, opts_.handshake_timeout)});
      if (joined)
        return joined;
      last = joined.error();
      // A refusal will not change by retrying.
      if (is(last, errc::version_mismatch) || is(last, errc::auth_failed)
          || is(last, errc::protocol_error))
        return last;
    } else {
      last = fd.error();
    }
    log::get().debug("connect to {}:{} failed ({}), retrying in {} ms", host, port, describe(last),
                     backoff.count());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds{1000});
  }
  return make_error(errc::connect_failed, "could not join " + host + ":" + std::to_string(port)
                                              + " within " + std::to_string(timeout.count())
                                              + " ms: " + describe(last));
}

std::vector<std::string> node::endpoints() const {
  auto result = ask<std::vector<std::string>>(sys_, manager_, std::chrono::seconds{10},
                                              detail::endpoints_atom::value);
  if (!result)
    throw node_error{std::move(result.error())};
  return std::move(*result);
}

std::vector<peer> node::peers() const {
  auto result = ask<std::vector<peer>>(sys_, manager_, std::chrono::seconds{10}, peers_atom::value);
  if (!result)
    throw node_error{std::move(result.error())};
  return std::move(*result);
}

caf::expected<caf::actor> node::spawn_on(const peer& where, const std::string& type,
                                         caf::message args, std::chrono::milliseconds timeout) {
  return ask<caf::actor>(sys_, where.connection, timeout, detail::spawn_atom::value, type,
                         std::move(args));
}

void node::subscribe(const caf::actor& listener) {
  caf::anon_send(manager_, subscribe_atom::value, listener);
}

caf::expected<int> node::stop_worker(const peer& worker, std::chrono::milliseconds timeout) {
  auto grace = std::chrono::duration_cast<caf::timespan>(timeout / 2);
  return ask<int>(sys_, manager_, timeout, stop_atom::value, worker.id, grace);
}

std::optional<caf::error> node::await_down(const peer& p, std::chrono::milliseconds timeout) {
  auto gone = ask<peer_down>(sys_, manager_, timeout, await_atom::value, p.id);
  if (!gone) {
    if (gone.error() == caf::sec::request_timeout)
      return std::nullopt;
    return gone.error();
  }
  return gone->reason;
}

}  // namespace troupe
