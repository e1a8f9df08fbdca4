#include "troupe/nodes/node.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/nodes/connection.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/loopback.hpp"
#include "troupe/nodes/node_protocol.hpp"

extern char** environ;

namespace troupe {
namespace {

using detail::adopt_atom;
using detail::await_atom;
using detail::close_atom;
using detail::listen_atom;
using detail::node_down_atom;
using detail::node_up_atom;
using detail::peer_info;
using detail::peers_atom;
using detail::start_worker_atom;
using detail::stop_atom;
using reap_atom = caf::atom_constant<caf::atom("reap")>;
using kill_atom = caf::atom_constant<caf::atom("kill")>;

std::atomic<uint64_t> next_connection_id{1};

// -- small POSIX helpers --------------------------------------------------------------------------

std::string errno_text(const char* what) {
  return std::string{what} + ": " + std::strerror(errno);
}

int exit_status(int wait_status) {
  if (WIFEXITED(wait_status))
    return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status))
    return 128 + WTERMSIG(wait_status);
  return -1;
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

// -- the node manager actor -----------------------------------------------------------------------

// A child's stderr passes through the head line by line, so that the head can say why a worker
// that failed at start-up failed (its last line), not only that it did.
struct child_stderr {
  std::mutex mtx;
  std::string last_line;
  bool closed = false;  // EOF: the child and everything it started closed the pipe

  std::string last() {
    std::lock_guard<std::mutex> guard{mtx};
    return last_line;
  }
  bool is_closed() {
    std::lock_guard<std::mutex> guard{mtx};
    return closed;
  }
};

// Forwards the child's stderr to ours until EOF, remembering the last non-empty line.
void pump_stderr(int fd, std::shared_ptr<child_stderr> out) {
  std::thread{[fd, out] {
    std::string pending;
    char buf[4096];
    for (;;) {
      auto n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      pending.append(buf, static_cast<size_t>(n));
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
        auto line = std::string_view{pending}.substr(start, nl + 1 - start);
        static_cast<void>(!write(STDERR_FILENO, line.data(), line.size()));
        if (line.size() > 1) {
          std::lock_guard<std::mutex> guard{out->mtx};
          out->last_line.assign(line.data(), line.size() - 1);
        }
      }
      pending.erase(0, start);
    }
    if (!pending.empty()) {
      static_cast<void>(!write(STDERR_FILENO, pending.data(), pending.size()));
      std::lock_guard<std::mutex> guard{out->mtx};
      out->last_line = pending;
    }
    close(fd);
    std::lock_guard<std::mutex> guard{out->mtx};
    out->closed = true;
  }}.detach();
}

struct child_process {
  pid_t pid = 0;
  bool stopping = false;  // asked to exit: wait for it rather than kill it
  bool down = false;
  bool joined = false;     // completed its handshake
  caf::error down_reason;  // why its connection closed
  std::optional<int> status;
  std::optional<std::chrono::steady_clock::time_point> exited_at;
  std::shared_ptr<child_stderr> stderr_lines;
  std::vector<caf::response_promise> exit_waiters;
  std::vector<caf::response_promise> start_waiters;  // answered once it exits, if it never joined
};

struct manager_state {
  node_options opts;
  std::shared_ptr<wire::tls_context> tls;
  wire::identity identity;
  std::shared_ptr<detail::link_limits> limits;  // shared by all links and listeners
  std::map<uint64_t, peer> peers;
  std::map<uint64_t, std::vector<caf::response_promise>> joining;
  std::map<uint64_t, std::vector<caf::response_promise>> down_waiters;
  // Why the latest peers left: await_down on a peer that is already gone answers the real
  // reason, not "not connected" (a head's Goodbye can arrive before its worker asks).
  std::map<uint64_t, peer_down> departed;
  static constexpr size_t departed_kept = 256;
  std::map<uint64_t, child_process> children;  // by connection id
  std::vector<caf::actor> subscribers;
  std::vector<caf::actor> listeners;
  std::vector<std::string> endpoints;  // "host:port" of each listener, for messages to users
  uint64_t workers_started = 0;
  bool reaping = false;
  std::optional<caf::response_promise> shutdown_done;  // answered once no child is left
  std::map<uint64_t, caf::actor> handshaking;          // connections not yet up, by id
  bool closing = false;
  static inline const char* name = "troupe.node";
};

using manager_actor = caf::stateful_actor<manager_state>;

// Settings for a new connection; TCP links authenticate (secret, TLS), socketpairs to our own
// children need not (docs/security.md).
detail::connection_config make_connection_config(manager_actor* self, uint64_t id,
                                                 std::string address, bool acceptor, bool tcp) {
  auto& st = self->state;
  detail::connection_config cfg;
  cfg.connection_id = id;
  cfg.address = std::move(address);
  cfg.self = st.identity;
  cfg.handshake.role = acceptor ? wire::role::acceptor : wire::role::connector;
  cfg.handshake.secret = tcp ? st.opts.secret : std::string{};
  if (tcp)
    cfg.tls = st.tls;
  cfg.handshake.max_frame_size = static_cast<uint32_t>(st.opts.max_frame_size);
  cfg.handshake_timeout = st.opts.handshake_timeout;
  cfg.heartbeat_interval = st.opts.heartbeat_interval;
  cfg.heartbeat_timeout = st.opts.heartbeat_timeout;
  cfg.frame_timeout = st.opts.frame_timeout;
  cfg.max_spawned = st.opts.max_spawned_per_link;
  if (!st.limits)
    st.limits = std::make_shared<detail::link_limits>(st.opts.max_connections,
                                                      st.opts.partial_frame_budget);
  cfg.limits = st.limits;
  cfg.manager = caf::actor_cast<caf::actor>(self);
  return cfg;
}

void schedule_reap(manager_actor* self) {
  if (self->state.reaping)
    return;
  self->state.reaping = true;
  self->delayed_send(self, std::chrono::milliseconds{10}, reap_atom::value);
}

// Collects the exit status of children that are leaving (asked to stop, or lost); polls while
// any is still on its way out.
void reap(manager_actor* self) {
  auto& st = self->state;
  st.reaping = false;
  bool again = false;
  for (auto i = st.children.begin(); i != st.children.end();) {
    auto& child = i->second;
    if (!child.down && !child.stopping) {
      ++i;
      continue;
    }
    if (!child.status) {
      int status = 0;
      auto rc = waitpid(child.pid, &status, WNOHANG);
      if (rc == child.pid)
        child.status = exit_status(status);
      else if (rc < 0)
        child.status = -1;  // not ours any more (reaped elsewhere)
    }
    if (child.status && !child.start_waiters.empty()) {
      // Say why it failed: wait (briefly) for its last stderr line to come through the pipe.
      auto now = std::chrono::steady_clock::now();
      if (!child.exited_at)
        child.exited_at = now;
      bool drained = !child.stderr_lines || child.stderr_lines->is_closed()
                     || now - *child.exited_at > std::chrono::milliseconds{500};
      if (!drained) {
        again = true;
        ++i;
        continue;
      }
      auto last = child.stderr_lines ? child.stderr_lines->last() : std::string{};
      // SIGKILL that this node did not send (it sends one only when the handshake times out)
      // came from outside, like a user or the OOM killer: no fault of the program's start-up.
      bool killed_from_outside =
          *child.status == 128 + SIGKILL && !is(child.down_reason, errc::handshake_timeout);
      auto err = make_error(
          killed_from_outside ? errc::worker_lost : errc::worker_start_failed,
          "worker process " + std::to_string(child.pid)
              + (killed_from_outside
                     ? std::string{" was killed (SIGKILL) before joining"}
                     : " exited with status " + std::to_string(*child.status) + " before joining")
              + (last.empty() ? std::string{} : ": " + last));
      for (auto& rp : child.start_waiters)
        rp.deliver(err);
      child.start_waiters.clear();
    }
    if (child.status) {
      for (auto& rp : child.exit_waiters)
        rp.deliver(*child.status);
      child.exit_waiters.clear();
      if (child.down) {
        i = st.children.erase(i);
        continue;
      }
    }
    again = true;
    ++i;
  }
  if (again) {
    schedule_reap(self);
  } else if (st.shutdown_done && st.children.empty()) {
    st.shutdown_done->deliver(true);
    st.shutdown_done.reset();
  }
}

struct spawned_worker {
  pid_t pid = 0;
  int socket = -1;
  std::shared_ptr<child_stderr> stderr_lines;
};

caf::expected<spawned_worker> spawn_worker_process(manager_actor* self, uint64_t index) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return make_error(errc::connect_failed, errno_text("socketpair"));
  // The default buffers of a Unix socket (about 200 KiB) make a busy link stall on every
  // other write; TCP on loopback grows its own. Best effort: the kernel caps the size.
  for (int fd : fds) {
    int size = 4 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  const auto& opts = self->state.opts;
  std::vector<std::string> args{
      node::executable(),
      "--troupe-worker-fd",
      "3",
      "--troupe-parent-pid",
      std::to_string(getpid()),
      "--node-name",
      opts.name + "-worker-" + std::to_string(index),
      "--log-level",
      opts.log_level,
      "--heartbeat-interval-ms",
      std::to_string(opts.heartbeat_interval.count()),
      "--heartbeat-timeout-ms",
      std::to_string(opts.heartbeat_timeout.count()),
      "--max-frame-size",
      std::to_string(opts.max_frame_size),
  };
  args.insert(args.end(), opts.worker_args.begin(), opts.worker_args.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(fds[0]);
    close(fds[1]);
    return make_error(errc::connect_failed, errno_text("pipe"));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto fd 3 (and 2) clears close-on-exec for the child's copy only.
  posix_spawn_file_actions_adddup2(&actions, fds[1], 3);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(fds[0]);
    close(err_pipe[0]);
    errno = rc;
    return make_error(errc::connect_failed, errno_text("posix_spawn"));
  }
  auto lines = std::make_shared<child_stderr>();
  pump_stderr(err_pipe[0], lines);
  return spawned_worker{pid, fds[0], std::move(lines)};
}

void deliver_all(std::vector<caf::response_promise>& promises, const caf::message& value) {
  for (auto& rp : promises)
    rp.deliver(value);
  promises.clear();
}

caf::behavior node_manager(manager_actor* self, node_options opts, wire::identity identity,
                           std::shared_ptr<wire::tls_context> tls) {
  self->state.opts = std::move(opts);
  self->state.tls = std::move(tls);
  self->state.identity = std::move(identity);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const caf::actor& a) { return a.address() == msg.source; }),
               subs.end());
  });
  return {
      [self](start_worker_atom) -> caf::result<peer> {
        auto index = ++self->state.workers_started;
        auto spawned = spawn_worker_process(self, index);
        if (!spawned)
          return std::move(spawned.error());
        auto pid = spawned->pid;
        auto id = next_connection_id++;
        auto& child = self->state.children[id];
        child.pid = pid;
        child.stderr_lines = std::move(spawned->stderr_lines);
        self->state.handshaking[id] = detail::spawn_connection(
            self->system(), spawned->socket,
            make_connection_config(self, id, "child pid " + std::to_string(pid), true, false));
        auto rp = self->make_response_promise<peer>();
        self->state.joining[id].push_back(rp);
        return rp;
      },
      [self](adopt_atom, int fd, std::string& address, bool acceptor,
             bool tcp) -> caf::result<peer> {
        auto id = next_connection_id++;
        self->state.handshaking[id] = detail::spawn_connection(
            self->system(), fd,
            make_connection_config(self, id, std::move(address), acceptor, tcp));
        auto rp = self->make_response_promise<peer>();
        self->state.joining[id].push_back(rp);
        return rp;
      },
      [self](listen_atom, const std::string& host, uint16_t port) -> caf::result<uint16_t> {
        // The listener runs on its own thread: it gets a copy of the settings, never this
        // actor's state.
        auto tcp = make_connection_config(self, 0, {}, true, true);
        auto listening =
            detail::spawn_listener(self->system(), host, port, [tcp](const std::string& address) {
              auto cfg = tcp;
              cfg.connection_id = next_connection_id++;
              cfg.address = address;
              return cfg;
            });
        if (!listening)
          return make_error(errc::connect_failed, "cannot listen on " + host + ":"
                                                      + std::to_string(port) + ": "
                                                      + self->system().render(listening.error()));
        self->state.listeners.push_back(listening->first);
        self->state.endpoints.push_back(
            (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":"
            + std::to_string(listening->second));
        log::get().info("listening on {}:{}", host, listening->second);
        return listening->second;
      },
      [self](node_up_atom, peer_info& info) {
        self->state.handshaking.erase(info.connection_id);
        if (self->state.closing) {
          self->send(info.connection, close_atom::value);
          return;
        }
        peer p;
        p.id = info.connection_id;
        p.name = info.name;
        p.node = info.node;
        p.process_id = info.process_id;
        p.address = info.address;
        auto c = self->state.children.find(info.connection_id);
        p.child = c != self->state.children.end();
        if (p.child)
          c->second.joined = true;
        p.connection = info.connection;
        self->state.peers[p.id] = p;
        auto j = self->state.joining.find(p.id);
        if (j != self->state.joining.end()) {
          deliver_all(j->second, caf::make_message(p));
          self->state.joining.erase(j);
        }
        for (auto& sub : self->state.subscribers)
          self->send(sub, peer_up{p});
      },
      [self](node_down_atom, uint64_t id, caf::error& reason) {
        auto& st = self->state;
        st.handshaking.erase(id);
        auto j = st.joining.find(id);
        if (j != st.joining.end()) {
          auto c = st.children.find(id);
          if (c != st.children.end() && !c->second.joined) {
            // A child that never joined: answer with its exit status and last words (reap).
            auto& waiters = c->second.start_waiters;
            waiters.insert(waiters.end(), j->second.begin(), j->second.end());
          } else {
            deliver_all(j->second, caf::make_message(reason));
          }
          st.joining.erase(j);
        }
        auto i = st.peers.find(id);
        auto w = st.down_waiters.find(id);
        if (w != st.down_waiters.end()) {
          auto gone = peer_down{i != st.peers.end() ? i->second : peer{}, reason};
          deliver_all(w->second, caf::make_message(std::move(gone)));
          st.down_waiters.erase(w);
        }
        if (i != st.peers.end()) {
          for (auto& sub : st.subscribers)
            self->send(sub, peer_down{i->second, reason});
          auto& gone = st.departed[id] = peer_down{i->second, reason};
          gone.peer.connection = nullptr;  // the dead link's actor need not be kept alive
          if (st.departed.size() > manager_state::departed_kept)
            st.departed.erase(st.departed.begin());  // ids only grow: the oldest connection
          st.peers.erase(i);
        }
        auto c = st.children.find(id);
        if (c != st.children.end()) {
          c->second.down = true;
          c->second.down_reason = reason;
          // A child we did not ask to leave is fenced off for good: a stopped or partitioned
          // worker must not come back with late results.
          if (!c->second.stopping)
            kill(c->second.pid, SIGKILL);
          schedule_reap(self);
        }
      },
      [self](detail::endpoints_atom) { return self->state.endpoints; },
      [self](peers_atom) {
        std::vector<peer> result;
        for (auto& kv : self->state.peers)
          result.push_back(kv.second);
        return caf::make_message(std::move(result));
      },
      [self](subscribe_atom, caf::actor& listener) {
        self->monitor(listener);
        for (auto& kv : self->state.peers)
          self->send(listener, peer_up{kv.second});
        self->state.subscribers.push_back(std::move(listener));
      },
      [self](await_atom, uint64_t id) -> caf::result<peer_down> {
        if (self->state.peers.count(id) == 0) {
          auto gone = self->state.departed.find(id);
          if (gone != self->state.departed.end())
            return gone->second;
          return peer_down{peer{}, make_error(errc::node_down, "not connected")};
        }
        auto rp = self->make_response_promise<peer_down>();
        self->state.down_waiters[id].push_back(rp);
        return rp;
      },
      [self](stop_atom, uint64_t id, caf::timespan grace) -> caf::result<int> {
        auto c = self->state.children.find(id);
        if (c == self->state.children.end())
          return make_error(errc::node_down, "not a worker process of this node");
        auto rp = self->make_response_promise<int>();
        c->second.exit_waiters.push_back(rp);
        c->second.stopping = true;
        auto p = self->state.peers.find(id);
        if (p != self->state.peers.end())
          self->send(p->second.connection, close_atom::value);
        self->delayed_send(self, grace, kill_atom::value, id);
        schedule_reap(self);
        return rp;
      },
      [self](kill_atom, uint64_t id) {
        auto c = self->state.children.find(id);
        if (c != self->state.children.end() && !c->second.status)
          kill(c->second.pid, SIGKILL);
      },
      [self](reap_atom) { reap(self); },
      [self](shutdown_atom, caf::timespan grace) -> caf::result<bool> {
        auto& st = self->state;
        for (auto& listener : st.listeners)
          self->send_exit(listener, caf::exit_reason::user_shutdown);
        st.listeners.clear();
        st.endpoints.clear();
        st.closing = true;
        for (auto& kv : st.peers)
          self->send(kv.second.connection, close_atom::value);
        for (auto& kv : st.handshaking)
          self->send(kv.second, close_atom::value);
        if (st.children.empty())
          return true;
        for (auto& kv : st.children) {
          kv.second.stopping = true;
          self->delayed_send(self, grace, kill_atom::value, kv.first);
        }
        st.shutdown_done = self->make_response_promise<bool>();
        schedule_reap(self);
        return *st.shutdown_done;
      },
  };
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
  manager_ = sys_.spawn(node_manager, opts_, make_identity(sys_, opts_.name), tls);
}

node::~node() {
  caf::scoped_actor self{sys_};
  auto grace = std::chrono::duration_cast<caf::timespan>(std::chrono::seconds{2});
  self->request(manager_, std::chrono::seconds{10}, shutdown_atom::value, grace)
      .receive([](bool) {}, [](caf::error&) {});
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

caf::expected<peer> node::adopt(int fd, std::string address, bool acceptor, bool tcp,
                                std::chrono::milliseconds timeout) {
  return ask<peer>(sys_, manager_, timeout, adopt_atom::value, fd, std::move(address), acceptor,
                   tcp);
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
      auto joined = adopt(*fd, "tcp " + host + ":" + std::to_string(port), false, true,
                          std::max(left, opts_.handshake_timeout));
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
  return result ? std::move(*result) : std::vector<std::string>{};
}

std::vector<peer> node::peers() const {
  auto result = ask<std::vector<peer>>(sys_, manager_, std::chrono::seconds{10}, peers_atom::value);
  return result ? std::move(*result) : std::vector<peer>{};
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
