#include "troupe/nodes/ipc/channel.hpp"

#include <deque>
#include <map>
#include <optional>
#include <utility>

#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include "troupe/actors/join.hpp"
#include "troupe/messages/error.hpp"
#include "troupe/messages/protobuf.hpp"
#include "troupe/nodes/ipc/ipc.pb.h"

namespace troupe::ipc {
namespace {

// Requests one worker process may have waiting at once: a lying peer cannot grow our memory.
constexpr size_t max_parked_per_process = 1024;

using clock = std::chrono::steady_clock;
using expire_atom = caf::atom_constant<caf::atom("ipcexpire")>;
using release_atom = caf::atom_constant<caf::atom("ipcrelease")>;

struct parked {
  caf::response_promise rp;
  caf::node_id node;  // who waits
  bool peek = false;
  std::optional<clock::time_point> deadline;
};

struct holder {
  caf::node_id node;
  bool may_put = false;
  bool may_get = false;
};

struct channel_state {
  channel_config cfg;
  std::deque<std::string> values;
  std::map<uint64_t, caf::node_id> grants;  // slots granted to putters, not yet filled
  uint64_t next_grant = 1;
  std::optional<clock::time_point> timer;  // when the armed expiry tick fires
  std::deque<parked> reservers;
  std::deque<parked> getters;
  bool write_closed = false;
  bool read_closed = false;
  caf::error broken;                          // a holder was lost
  bool released = false;                      // no handle left in this process
  std::map<caf::actor_addr, holder> holders;  // target runners of worker processes
  static inline const char* name = "troupe.ipc.channel";
};

using channel_actor = caf::stateful_actor<channel_state>;

caf::node_id sender_node(channel_actor* self) {
  auto& sender = self->current_sender();
  return sender ? sender->node() : caf::node_id{};
}

// Local code may do everything; a worker process only what attach() gave it.
bool allowed(channel_actor* self, bool put) {
  auto node = sender_node(self);
  if (node == self->node())
    return true;
  for (auto& kv : self->state.holders)
    if (kv.second.node == node && (put ? kv.second.may_put : kv.second.may_get))
      return true;
  return false;
}

caf::error refused(channel_actor* self, const char* what) {
  return make_error(errc::protocol_error, std::string{"channel of "} + self->state.cfg.value_type
                                              + ": this process was not given the right to "
                                              + what);
}

uint64_t grant(channel_state& st, const caf::node_id& node) {
  auto id = st.next_grant++;
  st.grants.emplace(id, node);
  return id;
}

bool has_room(const channel_state& st) {
  return st.cfg.maxsize == 0 || st.values.size() + st.grants.size() < st.cfg.maxsize;
}

// A worker process's waiting requests are bounded; local ones are not (they block threads).
bool may_park(channel_actor* self, const std::deque<parked>& queue) {
  auto node = sender_node(self);
  if (node == self->node())
    return true;
  size_t n = 0;
  for (auto& p : queue)
    n += p.node == node ? 1 : 0;
  return n < max_parked_per_process;
}

Item make_item(std::string value) {
  Item item;
  *item.mutable_value() = std::move(value);
  return item;
}

Item end_item() {
  Item item;
  item.set_end(true);
  return item;
}

// Answers every waiting request that can be answered now, oldest first.
void serve(channel_actor* self) {
  auto& st = self->state;
  while (!st.getters.empty()) {
    auto& g = st.getters.front();
    if (!st.values.empty()) {
      if (g.peek) {
        g.rp.deliver(Item{});
      } else {
        g.rp.deliver(make_item(std::move(st.values.front())));
        st.values.pop_front();
      }
    } else if (st.write_closed) {
      g.rp.deliver(end_item());
    } else if (st.broken) {
      g.rp.deliver(st.broken);
    } else {
      break;
    }
    st.getters.pop_front();
  }
  while (!st.reservers.empty()) {
    auto& r = st.reservers.front();
    Granted granted;
    if (st.broken) {
      r.rp.deliver(st.broken);
    } else if (st.write_closed || st.read_closed) {
      granted.set_closed(true);
      r.rp.deliver(granted);
    } else if (has_room(st)) {
      granted.set_grant(grant(st, r.node));
      r.rp.deliver(granted);
    } else {
      break;
    }
    st.reservers.pop_front();
  }
}

// Waits end at their timeout with an answer (nothing, full); one tick armed for the earliest.
void arm_timer(channel_actor* self) {
  auto& st = self->state;
  std::optional<clock::time_point> earliest;
  for (auto* queue : {&st.getters, &st.reservers})
    for (auto& p : *queue)
      if (p.deadline && (!earliest || *p.deadline < *earliest))
        earliest = p.deadline;
  if (!earliest)
    return;
  // A pending tick keeps this actor alive (the clock holds a reference): never more than a
  // second ahead, so that a channel nobody holds any more goes away soon.
  auto now = clock::now();
  auto fire = std::min(*earliest, now + std::chrono::seconds{1});
  if (st.timer && *st.timer <= fire)
    return;
  st.timer = fire;
  self->delayed_send(self, std::max(clock::duration{0}, fire - now), expire_atom::value);
}

void expire(channel_actor* self) {
  auto& st = self->state;
  auto now = clock::now();
  if (st.timer && *st.timer <= now)
    st.timer.reset();
  auto due = [&](const parked& p) { return p.deadline && *p.deadline <= now; };
  for (auto i = st.getters.begin(); i != st.getters.end();) {
    if (!due(*i)) {
      ++i;
      continue;
    }
    Item nothing;
    nothing.set_nothing(true);
    i->rp.deliver(nothing);
    i = st.getters.erase(i);
  }
  for (auto i = st.reservers.begin(); i != st.reservers.end();) {
    if (!due(*i)) {
      ++i;
      continue;
    }
    Granted full;
    full.set_full(true);
    i->rp.deliver(full);
    i = st.reservers.erase(i);
  }
  arm_timer(self);
}

std::optional<clock::time_point> deadline_of(int64_t timeout_ms) {
  // Waits longer than a year are waits without end (and no clock arithmetic overflows).
  constexpr int64_t year_ms = int64_t{365} * 24 * 3600 * 1000;
  if (timeout_ms < 0 || timeout_ms > year_ms)
    return std::nullopt;
  return clock::now() + std::chrono::milliseconds{timeout_ms};
}

// A holder left: a lost one breaks the channel; one that finished may close its side (pipes).
void holder_down(channel_actor* self, const caf::down_msg& msg) {
  auto& st = self->state;
  auto h = st.holders.find(msg.source);
  if (h == st.holders.end())
    return;
  auto gone = h->second;
  st.holders.erase(h);
  bool node_still_holds = false;
  for (auto& kv : st.holders)
    node_still_holds |= kv.second.node == gone.node;
  if (!node_still_holds) {
    // Its slots are free again, and nothing may be handed to its waits any more.
    for (auto i = st.grants.begin(); i != st.grants.end();)
      i = i->second == gone.node ? st.grants.erase(i) : std::next(i);
    for (auto* queue : {&st.getters, &st.reservers})
      for (auto i = queue->begin(); i != queue->end();)
        i = i->node == gone.node ? queue->erase(i) : std::next(i);
  }
  // errc::shutdown: this node closed the link on purpose (it stopped a worker whose target had
  // returned, whose own normal exit may not have arrived yet). A lost process is node_down.
  if (!exited_normally(msg.reason) && !is(msg.reason, errc::shutdown)) {
    if (!st.broken)
      st.broken =
          make_error(errc::node_down, "a process holding this channel of " + st.cfg.value_type
                                          + " was lost: " + describe(msg.reason));
  } else if (st.cfg.holders_close_on_exit) {
    st.write_closed |= gone.may_put;
    st.read_closed |= gone.may_get;
  }
  serve(self);
  if (st.released && st.holders.empty())
    self->quit();
}

caf::behavior channel(channel_actor* self, channel_config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_down_handler([self](caf::down_msg& msg) { holder_down(self, msg); });
  return {
      [self](attach_atom, const caf::actor& runner, uint32_t slot, uint32_t end, bool may_put,
             bool may_get) -> caf::result<bool> {
        // A local message only: it cannot cross the wire (not Protobuf), and the handle could
        // be any actor, so check that the caller is local anyway.
        if (sender_node(self) != self->node() || !runner)
          return make_error(errc::protocol_error, "attach is for local code");
        auto& st = self->state;
        st.holders[runner.address()] = holder{runner->node(), may_put, may_get};
        self->monitor(runner);
        Attach attach;
        attach.set_slot(slot);
        attach.set_value_type(st.cfg.value_type);
        attach.set_end(end);
        attach.set_maxsize(st.cfg.maxsize);
        self->send(runner, std::move(attach));
        return true;
      },
      [self](const Reserve& req) -> caf::result<Granted> {
        if (!allowed(self, true))
          return refused(self, "put");
        auto& st = self->state;
        Granted granted;
        if (st.broken)
          return st.broken;
        if (st.write_closed || st.read_closed) {
          granted.set_closed(true);
          return granted;
        }
        if (has_room(st)) {
          granted.set_grant(grant(st, sender_node(self)));
          return granted;
        }
        if (req.timeout_ms() == 0) {
          granted.set_full(true);
          return granted;
        }
        if (!may_park(self, st.reservers))
          return make_error(errc::too_many, "too many waiting puts from one process");
        // Before the promise: making it takes the sender out of the current message.
        auto node = sender_node(self);
        auto rp = self->make_response_promise<Granted>();
        st.reservers.push_back(parked{rp, node, false, deadline_of(req.timeout_ms())});
        arm_timer(self);
        return rp;
      },
      [self](Put& req) -> caf::result<Accepted> {
        if (!allowed(self, true))
          return refused(self, "put");
        auto& st = self->state;
        // A grant is good for the process it was granted to only.
        auto g = st.grants.find(req.grant());
        bool reserved = g != st.grants.end() && g->second == sender_node(self);
        if (reserved)
          st.grants.erase(g);
        caf::result<Accepted> answer{Accepted{}};
        if (st.broken) {
          answer = st.broken;
        } else if (st.write_closed || st.read_closed) {
          Accepted closed;
          closed.set_closed(true);
          answer = closed;
        } else if (st.cfg.maxsize > 0 && !reserved) {
          answer = make_error(errc::protocol_error, "a Put without a granted slot");
        } else if (st.cfg.validate && !st.cfg.validate(req.value())) {
          answer = make_error(errc::corrupt_payload,
                              "a value that is not of type " + st.cfg.value_type + " was refused");
        } else {
          st.values.push_back(std::move(*req.mutable_value()));
        }
        serve(self);
        return answer;
      },
      [self](const Get& req) -> caf::result<Item> {
        if (!allowed(self, false))
          return refused(self, "get");
        auto& st = self->state;
        if (!st.values.empty()) {
          if (req.peek())
            return Item{};
          auto item = make_item(std::move(st.values.front()));
          st.values.pop_front();
          serve(self);
          return item;
        }
        if (st.write_closed)
          return end_item();
        if (st.broken)
          return st.broken;
        if (req.timeout_ms() == 0) {
          Item nothing;
          nothing.set_nothing(true);
          return nothing;
        }
        if (!may_park(self, st.getters))
          return make_error(errc::too_many, "too many waiting gets from one process");
        auto node = sender_node(self);
        auto rp = self->make_response_promise<Item>();
        st.getters.push_back(parked{rp, node, req.peek(), deadline_of(req.timeout_ms())});
        arm_timer(self);
        return rp;
      },
      [self](expire_atom) { expire(self); },
      [self](release_atom) {
        self->state.released = true;
        if (self->state.holders.empty())
          self->quit();
      },
      [self](const Close& req) -> caf::result<Accepted> {
        if ((req.writer() && !allowed(self, true)) || (req.reader() && !allowed(self, false)))
          return refused(self, "close this side");
        auto& st = self->state;
        st.write_closed |= req.writer();
        st.read_closed |= req.reader();
        serve(self);
        return Accepted{};
      },
  };
}

}  // namespace

channel_ref make_channel(caf::actor_system& sys, channel_config cfg) {
  auto maxsize = cfg.maxsize;
  auto actor = sys.spawn(channel, std::move(cfg));
  std::shared_ptr<const void> owner{
      nullptr, [actor](const void*) { caf::anon_send(actor, release_atom::value); }};
  return channel_ref{&sys, actor, maxsize, std::move(owner)};
}

}  // namespace troupe::ipc
