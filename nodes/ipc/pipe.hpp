// troupe::pipe<T>(): multiprocessing.Pipe. Two connected ends, each can send and receive.
//
//   auto [parent, child] = troupe::pipe<std::string>(node.system());
//   auto p = troupe::process::start(node, piper, child);  // the worker holds the child end
//   parent.send("Hello");
//   auto rx = parent.recv();                               // what piper sent back
//
// Each direction is a channel in the process that made the pipe (see queue.hpp), bounded by
// `maxsize` values: send blocks while the other end has that many unread, up to `timeout`
// (troupe::timeout_error). recv(timeout) takes the oldest value sent by the other end;
// poll(timeout) says whether recv would return at once (a value, or the end). close() closes
// this end: the other end's recv gets the values already sent, then troupe::closed_error
// (Python's EOFError); its send gets closed_error (BrokenPipeError). A worker process's end is
// closed when its target returns, as a process's exit closes its end of an OS pipe. If the
// process holding the other end is lost, send and recv throw troupe::peer_lost_error.
//
// The same value and thread rules as queue<T>: values must decode as T, the blocking calls are
// for plain threads, a timeout of 0 does not wait. Copies of an end are the same end. The same
// size limit: send refuses, at once, a value whose encoding takes more than max_frame_size
// (16 MiB by default, --max-frame-size) less 1 KiB, with a troupe::channel_error of
// errc::message_too_large naming its size and the limit; the pipe is unchanged.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "troupe/messages/codec.hpp"
#include "troupe/nodes/ipc/channel.hpp"
#include "troupe/nodes/ipc/errors.hpp"
#include "troupe/nodes/ipc/queue.hpp"
#include "troupe/nodes/ipc/value_type.hpp"

namespace troupe {

template <wire_value T>
class connection {
public:
  using value_type = T;

  void send(const T& value, std::chrono::milliseconds timeout = forever) const {
    check_open("send");
    ipc::put(out_, encode(value), timeout);
  }

  /// The oldest value the other end sent; throws closed_error once it closed and all is read.
  T recv(std::chrono::milliseconds timeout = forever) const {
    check_open("recv");
    auto bytes = ipc::get(in_, timeout);
    if (!bytes)
      throw closed_error{"connection.recv: the other end closed"};
    T value;
    if (!decode(*bytes, value))
      throw channel_error{
          make_error(errc::corrupt_payload,
                     "connection.recv: a value that is not of type " + ipc::value_type_name<T>())};
    return value;
  }

  /// True if recv would not wait: a value is there, or the other end closed.
  bool poll(std::chrono::milliseconds timeout = std::chrono::milliseconds{0}) const {
    check_open("poll");
    return ipc::poll(in_, timeout);
  }

  /// Closes this end for both directions; closing twice is harmless.
  void close() const {
    if (closed_->exchange(true))
      return;
    // Reading side first: once the other end sees the end of the stream, its sends are
    // refused too, as when an OS pipe's end is closed at once.
    ipc::close(in_, false, true);
    ipc::close(out_, true, false);
  }

  bool closed() const noexcept {
    return closed_->load();
  }

private:
  friend struct ipc::handle_access;
  template <wire_value U>
  friend std::pair<connection<U>, connection<U>> pipe(caf::actor_system& sys, size_t maxsize);

  connection(ipc::channel_ref out, ipc::channel_ref in)
      : out_(std::move(out)), in_(std::move(in)), closed_(std::make_shared<std::atomic<bool>>()) {}

  void check_open(const char* what) const {
    if (closed_->load())
      throw closed_error{std::string{"connection."} + what + ": this end is closed"};
  }

  ipc::channel_ref out_;  // values this end sends
  ipc::channel_ref in_;   // values the other end sent
  std::shared_ptr<std::atomic<bool>> closed_;
};

/// A pipe: {parent end, child end}. maxsize: unread values per direction before send blocks.
template <wire_value T>
std::pair<connection<T>, connection<T>> pipe(caf::actor_system& sys, size_t maxsize = 64) {
  auto direction = [&] {
    ipc::channel_config cfg;
    cfg.maxsize = maxsize;
    cfg.value_type = ipc::value_type_name<T>();
    cfg.validate = [](std::string_view bytes) {
      T value;
      return decode(bytes, value);
    };
    cfg.holders_close_on_exit = true;
    return ipc::make_channel(sys, std::move(cfg));
  };
  auto to_child = direction();
  auto to_parent = direction();
  return {connection<T>{to_child, to_parent}, connection<T>{to_parent, to_child}};
}

}  // namespace troupe
