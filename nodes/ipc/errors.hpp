// What queue, pipe and process operations throw (Python's exceptions, in C++ types).
//
//   troupe::timeout_error    get/put/recv/join ran out of time (queue.Empty, queue.Full)
//   troupe::closed_error     end of stream: get after the last value of a closed queue, recv
//                            after the peer closed its end (EOFError); put or send into a
//                            closed channel (ValueError, BrokenPipeError)
//   troupe::peer_lost_error  a process holding the channel was lost (killed, crashed, cut off)
//   troupe::channel_error    any other failure, e.g. a value from another process that is not
//                            a T; error() holds the troupe error
#pragma once

#include <stdexcept>
#include <string>

#include <caf/error.hpp>

#include "troupe/actors/future.hpp"
#include "troupe/messages/error.hpp"

namespace troupe {

class channel_error : public std::runtime_error {
public:
  explicit channel_error(caf::error err)
      : std::runtime_error(describe(err)), error_(std::move(err)) {}
  const caf::error& error() const noexcept {
    return error_;
  }

private:
  caf::error error_;
};

class peer_lost_error : public channel_error {
public:
  using channel_error::channel_error;
};

class closed_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

}  // namespace troupe
