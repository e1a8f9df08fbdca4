#include "troupe/actors/flow.hpp"

#include <deque>
#include <vector>

#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/messages/error.hpp"
#include "troupe/messages/flow.pb.h"

namespace troupe::flow {
namespace detail {
namespace {

// State lives in a shared_ptr held by the behavior's closures, so that producers and consumers
// can be plain event_based_actors (and spawned by name on any node).

struct consumer_link {
  caf::actor handle;
  uint32_t credit = 0;
  std::deque<caf::message> unacked;  // sent, not yet acknowledged: re-sent if the consumer dies
  bool flushed = false;              // asked to acknowledge everything sent so far
};

struct producer_state {
  std::function<std::optional<caf::message>()> next;
  producer_options opts;
  std::vector<consumer_link> consumers;
  std::deque<caf::message> redo;  // items of dead consumers, delivered before new ones
  size_t cursor = 0;              // round-robin position among consumers
  bool exhausted = false;
  bool pacing = false;  // waiting for the interval timer
};

using self_ptr = caf::event_based_actor*;

consumer_link* find_link(producer_state& st, const caf::actor_addr& addr) {
  for (auto& link : st.consumers)
    if (link.handle.address() == addr)
      return &link;
  return nullptr;
}

consumer_link& add_link(self_ptr self, producer_state& st, caf::actor consumer) {
  if (auto* link = find_link(st, consumer.address()))
    return *link;
  self->monitor(consumer);
  st.consumers.push_back(consumer_link{std::move(consumer), 0, {}});
  return st.consumers.back();
}

consumer_link* next_with_credit(producer_state& st) {
  for (size_t n = 0; n < st.consumers.size(); ++n) {
    auto& link = st.consumers[(st.cursor + n) % st.consumers.size()];
    if (link.credit > 0) {
      st.cursor = (st.cursor + n + 1) % st.consumers.size();
      return &link;
    }
  }
  return nullptr;
}

void finish_if_done(self_ptr self, producer_state& st) {
  if (!st.exhausted || !st.redo.empty())
    return;
  bool all_acknowledged = true;
  for (auto& link : st.consumers) {
    if (link.unacked.empty())
      continue;
    all_acknowledged = false;
    if (!link.flushed) {
      link.flushed = true;
      self->send(link.handle, Flush{});
    }
  }
  if (!all_acknowledged)
    return;
  for (auto& link : st.consumers)
    self->send(link.handle, EndOfStream{});
  self->quit();
}

std::optional<caf::message> take_item(self_ptr self, producer_state& st) {
  if (!st.redo.empty()) {
    auto item = std::move(st.redo.front());
    st.redo.pop_front();
    return item;
  }
  if (st.exhausted || st.pacing)
    return std::nullopt;
  auto item = st.next();
  if (!item) {
    st.exhausted = true;
    return std::nullopt;
  }
  if (st.opts.interval.count() > 0) {
    st.pacing = true;
    self->delayed_send(self, st.opts.interval, produce_atom::value);
  }
  return item;
}

void pump(self_ptr self, producer_state& st) {
  while (auto* link = next_with_credit(st)) {
    auto item = take_item(self, st);
    if (!item)
      break;
    --link->credit;
    link->flushed = false;
    link->unacked.push_back(*item);
    self->send(link->handle, std::move(*item));
  }
  finish_if_done(self, st);
}

}  // namespace

caf::behavior producer_impl(caf::event_based_actor* self,
                            std::function<std::optional<caf::message>()> next,
                            producer_options opts) {
  auto st = std::make_shared<producer_state>();
  st->next = std::move(next);
  st->opts = opts;
  self->set_down_handler([self, st](caf::down_msg& msg) {
    auto& links = st->consumers;
    for (auto i = links.begin(); i != links.end(); ++i) {
      if (i->handle.address() == msg.source) {
        st->redo.insert(st->redo.begin(), i->unacked.begin(), i->unacked.end());
        links.erase(i);
        break;
      }
    }
    pump(self, *st);
  });
  return {
      [self, st](subscribe_atom, caf::actor consumer) {
        // A second subscribe of a known consumer must not grant it a second window.
        if (find_link(*st, consumer.address()) != nullptr)
          return;
        auto& link = add_link(self, *st, std::move(consumer));
        self->send(link.handle, Offer{});
      },
      [self, st](const Demand& demand) {
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!sender)
          return;
        // A Demand without a prior subscribe is a consumer joining on its own.
        auto& link = add_link(self, *st, std::move(sender));
        for (uint32_t n = demand.acknowledged(); n > 0 && !link.unacked.empty(); --n)
          link.unacked.pop_front();
        link.credit += demand.credit();
        pump(self, *st);
      },
      [self, st](produce_atom) {
        st->pacing = false;
        pump(self, *st);
      },
  };
}

class consumer_core {
public:
  consumer_core(consumer_options opts, end_handler on_end)
      : window(std::max<uint32_t>(1, opts.window)), on_end(std::move(on_end)) {}

  void end(const caf::error& reason) {
    if (ended)
      return;
    ended = true;
    if (on_end)
      on_end(reason);
  }

  uint32_t window;
  end_handler on_end;
  caf::actor producer;
  uint32_t processed = 0;  // items handled since the last Demand
  bool ended = false;
};

std::shared_ptr<consumer_core> make_consumer_core(consumer_options opts, end_handler on_end) {
  return std::make_shared<consumer_core>(opts, std::move(on_end));
}

namespace {

void acknowledge(caf::event_based_actor* self, consumer_core& core) {
  if (core.processed == 0)
    return;  // everything was acknowledged already
  Demand demand;
  demand.set_credit(core.processed);
  demand.set_acknowledged(core.processed);
  core.processed = 0;
  self->send(core.producer, std::move(demand));
}

}  // namespace

void item_done(caf::event_based_actor* self, consumer_core& core) {
  // Acknowledge in batches of half the window: fewer messages, and the producer still has
  // credit left while the acknowledgement travels. Flush collects the remainder.
  if (++core.processed >= std::max<uint32_t>(1, core.window / 2))
    acknowledge(self, core);
}

caf::message_handler consumer_protocol(caf::event_based_actor* self,
                                       std::shared_ptr<consumer_core> core) {
  self->set_down_handler([self, core](caf::down_msg& msg) {
    if (msg.source != core->producer.address())
      return;
    auto reason =
        make_error(errc::stream_aborted,
                   "producer terminated before the end of the stream: " + describe(msg.reason));
    core->end(reason);
    self->quit(reason);
  });
  return {
      // From subscribe(): watch the producer before its Offer, so that a producer that is gone
      // already ends this consumer instead of leaving it waiting.
      [self, core](subscribe_atom, caf::actor& producer) {
        if (!core->producer) {
          core->producer = producer;
          self->monitor(producer);
        }
      },
      [self, core](const Offer&) {
        auto producer = caf::actor_cast<caf::actor>(self->current_sender());
        if (!producer)
          return;
        if (core->producer != producer) {
          core->producer = std::move(producer);
          self->monitor(core->producer);
        }
        Demand demand;
        demand.set_credit(core->window);
        self->send(core->producer, std::move(demand));
      },
      [self, core](const Flush&) { acknowledge(self, *core); },
      [self, core](const EndOfStream& eos) {
        core->end(eos.error().empty() ? caf::error{} : make_error(errc::task_failed, eos.error()));
        self->quit();
      },
  };
}

}  // namespace detail

void subscribe(const caf::actor& producer, const caf::actor& consumer) {
  caf::anon_send(producer, subscribe_atom::value, consumer);
  // A local consumer also watches the producer from now on (a remote one cannot take this
  // local message; it watches the producer from its Offer).
  if (consumer->node() == producer->node())
    caf::anon_send(consumer, subscribe_atom::value, producer);
}

}  // namespace troupe::flow
