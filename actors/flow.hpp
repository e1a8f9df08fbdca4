// Demand-driven producer -> consumer streams: the actor version of queue.Queue and of a
// condition variable handing over one value at a time.
//
//   auto producer = troupe::flow::spawn_producer<int>(sys, count_to(10));
//   auto consumer = troupe::flow::spawn_consumer<int>(sys, print, on_end, {.window = 4});
//   troupe::flow::subscribe(producer, consumer);
//
// Protocol (messages/flow.proto): the producer sends Offer; the consumer answers
// Demand{credit = window}; the producer sends at most that many items, and the consumer grants
// more (and acknowledges) as it processes them. The producer pulls from its source only to fill
// granted credit, so it is never more than `window` items ahead of each consumer: a fast
// producer cannot grow a mailbox. When the source is exhausted and every item is acknowledged,
// each consumer receives EndOfStream (the tutorial's None sentinel) and the producer exits.
//
// Several consumers share one producer like threads sharing a queue: each item goes to one
// consumer. If a consumer dies, the items it had not acknowledged go to the others. If the
// producer dies, its consumers end with an error instead of waiting forever. Consumers and
// producers may live on different nodes: the protocol messages are Protobuf, and items must then
// be registered Protobuf types.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_handler.hpp>

#include "troupe/messages/protobuf.hpp"

namespace troupe::flow {

struct producer_options {
  /// Pace: at least this long between two items (the tutorial's time.sleep in the producer),
  /// waited on a timer, never by blocking a thread.
  caf::timespan interval = caf::timespan{0};
};

struct consumer_options {
  /// N: the most items granted to this consumer and not yet processed.
  uint32_t window = 8;
};

/// Produces the next item, or nullopt at the end of the stream. Called only when a consumer
/// has credit for the item.
template <class T>
using source = std::function<std::optional<T>()>;

/// Called when the stream ends: none after EndOfStream, an error if the producer was lost.
using end_handler = std::function<void(const caf::error&)>;

namespace detail {

caf::behavior producer_impl(caf::event_based_actor* self,
                            std::function<std::optional<caf::message>()> next,
                            producer_options opts);

class consumer_core;

std::shared_ptr<consumer_core> make_consumer_core(consumer_options opts, end_handler on_end);
void item_done(caf::event_based_actor* self, consumer_core& core);
caf::message_handler consumer_protocol(caf::event_based_actor* self,
                                       std::shared_ptr<consumer_core> core);

}  // namespace detail

/// The producer's behavior, for actors spawned by name (e.g. on another node).
template <class T>
caf::behavior producer(caf::event_based_actor* self, source<T> next, producer_options opts) {
  return detail::producer_impl(
      self,
      [next = std::move(next)]() -> std::optional<caf::message> {
        if (auto item = next())
          return caf::make_message(std::move(*item));
        return std::nullopt;
      },
      opts);
}

/// The consumer's behavior, for actors spawned by name (e.g. on another node).
template <class T>
caf::behavior consumer(caf::event_based_actor* self, std::function<void(const T&)> on_item,
                       end_handler on_end, consumer_options opts) {
  auto core = detail::make_consumer_core(opts, std::move(on_end));
  caf::message_handler items{[self, core, on_item = std::move(on_item)](const T& item) {
    on_item(item);
    detail::item_done(self, *core);
  }};
  return items.or_else(detail::consumer_protocol(self, core));
}

template <class T>
caf::actor spawn_producer(caf::actor_system& sys, source<T> next, producer_options opts = {}) {
  return sys.spawn(producer<T>, std::move(next), opts);
}

template <class T>
caf::actor spawn_consumer(caf::actor_system& sys, std::function<void(const T&)> on_item,
                          end_handler on_end = {}, consumer_options opts = {}) {
  return sys.spawn(consumer<T>, std::move(on_item), std::move(on_end), opts);
}

/// Connects a consumer (local or remote) to a producer. The producer offers the stream; the
/// consumer's first Demand starts the flow.
void subscribe(const caf::actor& producer, const caf::actor& consumer);

}  // namespace troupe::flow
