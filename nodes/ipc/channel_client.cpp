// The holders' side of a channel: blocking calls for threads, callbacks for actors.
#include <caf/scoped_actor.hpp>

#include "troupe/messages/error.hpp"
#include "troupe/messages/protobuf.hpp"
#include "troupe/nodes/frame_limit.hpp"
#include "troupe/nodes/ipc/channel.hpp"
#include "troupe/nodes/ipc/errors.hpp"
#include "troupe/nodes/ipc/ipc.pb.h"

namespace troupe::ipc {
namespace {

// The channel ends every wait itself at `timeout` (ipc.proto); the request's own deadline is
// only a safety net for a channel that stopped answering altogether.
constexpr auto safety_margin = std::chrono::seconds{30};

int64_t timeout_ms(std::chrono::milliseconds timeout) {
  return timeout == std::chrono::milliseconds::max() ? -1 : std::max<int64_t>(0, timeout.count());
}

caf::duration request_deadline(std::chrono::milliseconds timeout) {
  if (timeout_ms(timeout) < 0 || timeout > std::chrono::hours{24 * 365})
    return caf::duration{caf::infinite};
  return caf::duration{timeout + safety_margin};
}

template <class Answer, class Request>
caf::expected<Answer> ask(const channel_ref& ch, std::chrono::milliseconds timeout,
                          Request request) {
  caf::scoped_actor self{*ch.sys};
  caf::expected<Answer> result{caf::sec::request_timeout};
  self->request(ch.actor, request_deadline(timeout), std::move(request))
      .receive([&](Answer& answer) { result = std::move(answer); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

Reserve make_reserve(std::chrono::milliseconds timeout) {
  Reserve req;
  req.set_timeout_ms(timeout_ms(timeout));
  return req;
}

Get make_get(std::chrono::milliseconds timeout, bool peek) {
  Get req;
  req.set_timeout_ms(timeout_ms(timeout));
  req.set_peek(peek);
  return req;
}

Put make_put(uint64_t grant, std::string value) {
  Put req;
  req.set_grant(grant);
  *req.mutable_value() = std::move(value);
  return req;
}

std::string describe_timeout(const char* what, std::chrono::milliseconds timeout) {
  return std::string{what} + ": nothing within " + std::to_string(timeout.count()) + " ms";
}

// A value too large for a frame would be refused when it is handed on (a getter in another
// process, or the channel's process for a worker's put), and lost there: it is refused before
// it takes a slot, and the channel is unchanged.
caf::error check_size(const channel_ref& ch, const std::string& value) {
  return detail::check_value_size(value.size(), detail::frame_limit(*ch.sys), "put: a value");
}

}  // namespace

void throw_error(const caf::error& err, const char* what, std::chrono::milliseconds timeout) {
  if (err == caf::sec::request_timeout)
    throw timeout_error{describe_timeout(what, timeout)};
  if (is(err, errc::node_down) || err == caf::sec::request_receiver_down)
    throw peer_lost_error{err};
  throw channel_error{err};
}

caf::error attach(caf::actor_system& sys, const caf::actor& channel, const caf::actor& runner,
                  uint32_t slot, uint32_t end, bool may_put, bool may_get) {
  caf::scoped_actor self{sys};
  caf::error result;
  self->request(channel, std::chrono::seconds{10}, attach_atom::value, runner, slot, end, may_put,
                may_get)
      .receive([](bool) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

void put(const channel_ref& ch, std::string value, std::chrono::milliseconds timeout) {
  if (auto too_large = check_size(ch, value))
    throw channel_error{std::move(too_large)};
  uint64_t grant = 0;
  if (ch.maxsize > 0) {
    auto granted = ask<Granted>(ch, timeout, make_reserve(timeout));
    if (!granted)
      throw_error(granted.error(), "put", timeout);
    if (granted->closed())
      throw closed_error{"put: the channel is closed"};
    if (granted->full())
      throw timeout_error{"put: still full after " + std::to_string(timeout.count()) + " ms"};
    grant = granted->grant();
  }
  auto accepted = ask<Accepted>(ch, std::chrono::seconds{0}, make_put(grant, std::move(value)));
  if (!accepted)
    throw_error(accepted.error(), "put", timeout);
  if (accepted->closed())
    throw closed_error{"put: the channel is closed"};
}

std::optional<std::string> get(const channel_ref& ch, std::chrono::milliseconds timeout) {
  auto item = ask<Item>(ch, timeout, make_get(timeout, false));
  if (!item)
    throw_error(item.error(), "get", timeout);
  if (item->nothing())
    throw timeout_error{describe_timeout("get", timeout)};
  if (item->end())
    return std::nullopt;
  return std::move(*item->mutable_value());
}

bool poll(const channel_ref& ch, std::chrono::milliseconds timeout) {
  auto item = ask<Item>(ch, timeout, make_get(timeout, true));
  if (!item)
    throw_error(item.error(), "poll", timeout);
  return !item->nothing();
}

void close(const channel_ref& ch, bool writer, bool reader) {
  Close req;
  req.set_writer(writer);
  req.set_reader(reader);
  auto done = ask<Accepted>(ch, std::chrono::seconds{0}, std::move(req));
  if (!done)
    throw_error(done.error(), "close", std::chrono::seconds{0});
}

void async_put(caf::event_based_actor* self, const channel_ref& ch, std::string value,
               std::chrono::milliseconds timeout, std::function<void(caf::expected<bool>)> done) {
  auto store = [self, actor = ch.actor, done](uint64_t grant, std::string value) {
    self->request(actor, request_deadline(std::chrono::seconds{0}),
                  make_put(grant, std::move(value)))
        .then([done](const Accepted& accepted) { done(!accepted.closed()); },
              [done](caf::error& err) { done(std::move(err)); });
  };
  if (auto too_large = check_size(ch, value)) {
    done(std::move(too_large));
    return;
  }
  if (ch.maxsize == 0) {
    store(0, std::move(value));
    return;
  }
  self->request(ch.actor, request_deadline(timeout), make_reserve(timeout))
      .then(
          [store, done, value = std::move(value)](const Granted& granted) mutable {
            if (granted.closed())
              done(false);
            else if (granted.full())
              done(caf::make_error(caf::sec::request_timeout));
            else
              store(granted.grant(), std::move(value));
          },
          [done](caf::error& err) { done(std::move(err)); });
}

void async_get(caf::event_based_actor* self, const channel_ref& ch,
               std::chrono::milliseconds timeout,
               std::function<void(caf::expected<std::optional<std::string>>)> done) {
  self->request(ch.actor, request_deadline(timeout), make_get(timeout, false))
      .then(
          [done](Item& item) {
            if (item.nothing())
              done(caf::make_error(caf::sec::request_timeout));
            else if (item.end())
              done(std::optional<std::string>{});
            else
              done(std::optional<std::string>{std::move(*item.mutable_value())});
          },
          [done](caf::error& err) { done(std::move(err)); });
}

}  // namespace troupe::ipc
