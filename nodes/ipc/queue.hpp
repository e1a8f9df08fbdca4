// troupe::queue<T>: multiprocessing.Queue. A FIFO of T between threads and processes.
//
//   troupe::queue<std::string> q{node.system(), 8};        // at most 8 values waiting
//   auto p = troupe::process::start(node, printer, q);      // the worker gets the same queue
//   q.put("Hello");                                          // blocks while 8 are waiting
//   q.close();                                               // the end of the stream
//   while (auto v = q.next()) ...                            // in printer: nullopt at the end
//
// The queue lives in the process that made it (one actor holding the encoded values); copies of
// the handle, and the handle a worker process is given at start, all reach that one queue.
// put(value, timeout) stores a copy; with maxsize it blocks while the queue is full, up to
// `timeout` (then troupe::timeout_error, Python's queue.Full). A full queue is credit, not
// memory: a put first reserves a slot and sends its value only once it has one. get(timeout)
// takes the oldest value, waiting up to `timeout` (timeout_error, Python's queue.Empty).
//
// End of stream is close(), not a sentinel: after close() puts are refused (closed_error) and
// gets take the values still queued; then get() throws troupe::closed_error and next() returns
// nullopt. If a worker process holding the queue is lost (killed, crashed), the queue is broken:
// put throws troupe::peer_lost_error at once, get after the values still queued. A process
// holds the queue once it is given it, used or not: nobody can tell what it would still have put.
// Values a worker process puts must decode as T, or its put fails and the queue is unchanged.
//
// A value crosses to another process in one frame of the wire, so its encoding may take at most
// the node's max_frame_size (16 MiB by default; --max-frame-size BYTES on the command line,
// node_options::max_frame_size) less 1 KiB for the frame itself. put refuses a larger value at
// once, in the head as in a worker, before it takes a slot: troupe::channel_error with
// errc::message_too_large naming the size and the limit, and the queue is unchanged.
//
// Thread-safe; the blocking calls are for plain threads (never inside an actor: actors use
// async_put / async_get, whose callbacks run in the actor). T is any value troupe's codec
// encodes (messages/codec.hpp). A timeout of 0 does not wait; the default waits without end.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>

#include "troupe/messages/codec.hpp"
#include "troupe/nodes/ipc/channel.hpp"
#include "troupe/nodes/ipc/errors.hpp"
#include "troupe/nodes/ipc/value_type.hpp"

namespace troupe {

namespace ipc {
struct handle_access;
}

inline constexpr auto forever = std::chrono::milliseconds::max();

template <wire_value T>
class queue {
public:
  using value_type = T;

  /// A new queue in this process; maxsize 0: unbounded.
  explicit queue(caf::actor_system& sys, size_t maxsize = 0) {
    ipc::channel_config cfg;
    cfg.maxsize = maxsize;
    cfg.value_type = ipc::value_type_name<T>();
    cfg.validate = [](std::string_view bytes) {
      T value;
      return decode(bytes, value);
    };
    ref_ = ipc::make_channel(sys, std::move(cfg));
  }

  void put(const T& value, std::chrono::milliseconds timeout = forever) const {
    ipc::put(ref_, encode(value), timeout);
  }

  /// The oldest value; throws closed_error at the end of the stream.
  T get(std::chrono::milliseconds timeout = forever) const {
    auto value = next(timeout);
    if (!value)
      throw closed_error{"queue.get: the queue is closed and empty"};
    return std::move(*value);
  }

  /// The oldest value, or nullopt at the end of the stream: `while (auto v = q.next())`.
  std::optional<T> next(std::chrono::milliseconds timeout = forever) const {
    auto bytes = ipc::get(ref_, timeout);
    if (!bytes)
      return std::nullopt;
    return decoded(*bytes);
  }

  /// No more puts, from any process; gets drain what is queued, then see the end.
  void close() const {
    ipc::close(ref_, true, false);
  }

  size_t maxsize() const noexcept {
    return ref_.maxsize;
  }

  /// From inside an actor: `done` runs in the actor with true once stored, false if the queue
  /// is closed, or the error (caf::sec::request_timeout when still full at `timeout`).
  void async_put(caf::event_based_actor* self, const T& value, std::chrono::milliseconds timeout,
                 std::function<void(caf::expected<bool>)> done) const {
    ipc::async_put(self, ref_, encode(value), timeout, std::move(done));
  }

  /// From inside an actor: `done` runs in the actor with the value, nullopt at the end of the
  /// stream, or the error (caf::sec::request_timeout when nothing came by `timeout`).
  void async_get(caf::event_based_actor* self, std::chrono::milliseconds timeout,
                 std::function<void(caf::expected<std::optional<T>>)> done) const {
    ipc::async_get(self, ref_, timeout,
                   [done = std::move(done)](caf::expected<std::optional<std::string>> bytes) {
                     if (!bytes)
                       return done(std::move(bytes.error()));
                     if (!*bytes)
                       return done(std::optional<T>{});
                     T value;
                     if (!decode(**bytes, value))
                       return done(make_error(errc::corrupt_payload, ipc::value_type_name<T>()));
                     done(std::optional<T>{std::move(value)});
                   });
  }

private:
  friend struct ipc::handle_access;
  explicit queue(ipc::channel_ref ref) : ref_(std::move(ref)) {}

  static T decoded(const std::string& bytes) {
    T value;
    if (!decode(bytes, value))
      throw channel_error{
          make_error(errc::corrupt_payload,
                     "queue.get: a value that is not of type " + ipc::value_type_name<T>())};
    return value;
  }

  ipc::channel_ref ref_;
};

}  // namespace troupe
