#include "troupe/nodes/node_manager.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/nodes/connection.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/node_children.hpp"
#include "troupe/nodes/node_protocol.hpp"
#include "troupe/nodes/observe/observatory.hpp"

namespace troupe::detail {
namespace {

std::atomic<uint64_t> next_connection_id{1};

struct manager_state {
  node_options opts;
  std::shared_ptr<wire::tls_context> tls;
  wire::identity identity;
  std::shared_ptr<link_limits> limits;  // shared by all links and listeners
  std::map<uint64_t, peer> peers;
  std::map<uint64_t, std::vector<caf::response_promise>> joining;
  std::map<uint64_t, std::vector<caf::response_promise>> down_waiters;
  // Why the latest peers left: await_down on a peer that is already gone answers the real
  // reason, not "not connected" (a head's Goodbye can arrive before its worker asks).
  std::map<uint64_t, peer_down> departed;
  static constexpr size_t departed_kept = 256;
  // Exit statuses of worker processes already collected, so that a stop (or a join) asked
  // after the reap still gets the status instead of "not a worker process" (the oldest go first).
  std::map<uint64_t, int> exited;
  std::map<uint64_t, child_process> children;  // by connection id
  std::vector<caf::actor> subscribers;
  std::vector<caf::actor> listeners;
  std::vector<std::string> endpoints;  // "host:port" of each listener, for messages to users
  uint64_t workers_started = 0;
  bool reaping = false;
  // How long until the next look at leaving children: short right after one leaves (most exit
  // within a millisecond or two of closing their link), growing while one takes longer.
  std::chrono::milliseconds reap_delay = reap_delay_first;
  static constexpr std::chrono::milliseconds reap_delay_first{1};
  static constexpr std::chrono::milliseconds reap_delay_max{10};
  std::optional<caf::response_promise> shutdown_done;  // answered once no child is left
  std::map<uint64_t, caf::actor> handshaking;          // connections not yet up, by id
  bool closing = false;
  static inline const char* name = "troupe.node";
};

using manager_actor = caf::stateful_actor<manager_state>;

// Settings for a new connection; TCP links authenticate (secret, TLS), socketpairs to our own
// children need not (docs/security.md).
connection_config make_connection_config(manager_actor* self, uint64_t id, std::string address,
                                         wire::role role, link_kind kind) {
  bool tcp = kind == link_kind::tcp;
  auto& st = self->state;
  connection_config cfg;
  cfg.connection_id = id;
  cfg.address = std::move(address);
  cfg.self = st.identity;
  cfg.handshake.role = role;
  cfg.handshake.secret = tcp ? st.opts.secret : std::string{};
  if (tcp)
    cfg.tls = st.tls;
  cfg.handshake.max_frame_size = static_cast<uint32_t>(st.opts.max_frame_size);
  cfg.handshake_timeout = tcp ? st.opts.handshake_timeout : st.opts.child_start_timeout;
  cfg.heartbeat_interval = st.opts.heartbeat_interval;
  cfg.heartbeat_timeout = st.opts.heartbeat_timeout;
  cfg.frame_timeout = st.opts.frame_timeout;
  cfg.max_spawned = st.opts.max_spawned_per_link;
  if (!st.limits)
    st.limits =
        std::make_shared<link_limits>(st.opts.max_connections, st.opts.partial_frame_budget);
  cfg.limits = st.limits;
  cfg.manager = caf::actor_cast<caf::actor>(self);
  return cfg;
}

void schedule_reap(manager_actor* self) {
  if (self->state.reaping)
    return;
  self->state.reaping = true;
  self->delayed_send(self, self->state.reap_delay, reap_atom::value);
}

// A child just started leaving: look again soon (a look already due still comes first).
void reap_soon(manager_actor* self) {
  self->state.reap_delay = manager_state::reap_delay_first;
  schedule_reap(self);
}

// Collects the exit status of children that are leaving (asked to stop, or lost); polls while
// any is still on its way out, at first every millisecond, backing off to every 10 ms. (A
// fixed 10 ms poll made joining a pool of idle workers take 10 ms more than their exits.)
void reap(manager_actor* self) {
  auto& st = self->state;
  st.reaping = false;
  bool again = false;
  for (auto i = st.children.begin(); i != st.children.end();) {
    if (!i->second.down && !i->second.stopping) {
      ++i;
      continue;
    }
    if (reap_child(i->second) == reap_step::forget) {
      if (i->second.status) {
        st.exited[i->first] = *i->second.status;
        if (st.exited.size() > manager_state::departed_kept)
          st.exited.erase(st.exited.begin());
      }
      i = st.children.erase(i);
      continue;
    }
    again = true;
    ++i;
  }
  if (again) {
    st.reap_delay = std::min(st.reap_delay * 2, manager_state::reap_delay_max);
    schedule_reap(self);
    return;
  }
  st.reap_delay = manager_state::reap_delay_first;
  if (st.shutdown_done && st.children.empty()) {
    st.shutdown_done->deliver(true);
    st.shutdown_done.reset();
  }
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
        auto spawned = spawn_worker_process(self->state.opts, index);
        if (!spawned)
          return std::move(spawned.error());
        auto pid = spawned->pid;
        auto id = next_connection_id++;
        auto& child = self->state.children[id];
        child.pid = pid;
        child.stderr_lines = std::move(spawned->stderr_lines);
        self->state.handshaking[id] = spawn_connection(
            self->system(), spawned->socket,
            make_connection_config(self, id, "child pid " + std::to_string(pid),
                                   wire::role::acceptor, link_kind::own_socketpair));
        auto rp = self->make_response_promise<peer>();
        self->state.joining[id].push_back(rp);
        return rp;
      },
      [self](adopt_atom, int fd, std::string& address,
             const adopt_options& opts) -> caf::result<peer> {
        auto id = next_connection_id++;
        self->state.handshaking[id] = spawn_connection(
            self->system(), fd,
            make_connection_config(self, id, std::move(address), opts.role, opts.kind));
        auto rp = self->make_response_promise<peer>();
        self->state.joining[id].push_back(rp);
        return rp;
      },
      [self](listen_atom, const std::string& host, uint16_t port) -> caf::result<uint16_t> {
        // The listener runs on its own thread: it gets a copy of the settings, never this
        // actor's state.
        auto tcp = make_connection_config(self, 0, {}, wire::role::acceptor, link_kind::tcp);
        auto listening =
            spawn_listener(self->system(), host, port, [tcp](const std::string& address) {
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
      [self](node_up_atom, peer& p) {
        self->state.handshaking.erase(p.id);
        if (self->state.closing) {
          self->send(p.connection, close_link_atom::value);
          return;
        }
        auto c = self->state.children.find(p.id);
        p.child = c != self->state.children.end();
        if (p.child)
          c->second.joined = true;
        self->state.peers[p.id] = p;
        if (auto* obs = observe::observatory::active())
          obs->node_up(p.id, p.name, p.process_id, p.child, p.address);
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
        if (auto* obs = observe::observatory::active(); obs && i != st.peers.end())
          obs->node_down(id, describe(reason));
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
          reap_soon(self);
        }
      },
      [self](endpoints_atom) { return self->state.endpoints; },
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
        if (c == self->state.children.end()) {
          if (auto gone = self->state.exited.find(id); gone != self->state.exited.end())
            return gone->second;  // it exited and was reaped before anyone asked
          return make_error(errc::node_down, "not a worker process of this node");
        }
        auto rp = self->make_response_promise<int>();
        c->second.exit_waiters.push_back(rp);
        c->second.stopping = true;
        auto p = self->state.peers.find(id);
        if (p != self->state.peers.end())
          self->send(p->second.connection, close_link_atom::value);
        self->delayed_send(self, grace, kill_atom::value, id);
        reap_soon(self);
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
          self->send(kv.second.connection, close_link_atom::value);
        for (auto& kv : st.handshaking)
          self->send(kv.second, close_link_atom::value);
        if (st.children.empty())
          return true;
        for (auto& kv : st.children) {
          kv.second.stopping = true;
          self->delayed_send(self, grace, kill_atom::value, kv.first);
        }
        st.shutdown_done = self->make_response_promise<bool>();
        reap_soon(self);
        return *st.shutdown_done;
      },
  };
}

}  // namespace

caf::actor spawn_node_manager(caf::actor_system& sys, node_options opts, wire::identity self,
                              std::shared_ptr<wire::tls_context> tls) {
  return sys.spawn(node_manager, std::move(opts), std::move(self), std::move(tls));
}

}  // namespace troupe::detail
