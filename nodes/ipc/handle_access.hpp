// The door from troupe's own code to the channels behind queue and connection handles
// (internal: process start-up hands them to worker processes).
#pragma once

#include "troupe/nodes/ipc/channel.hpp"
#include "troupe/nodes/ipc/pipe.hpp"
#include "troupe/nodes/ipc/queue.hpp"

namespace troupe::ipc {

struct handle_access {
  template <class T>
  static const channel_ref& ref(const queue<T>& q) noexcept {
    return q.ref_;
  }
  template <class T>
  static queue<T> make_queue(channel_ref ref) {
    return queue<T>{std::move(ref)};
  }
  template <class T>
  static const channel_ref& out(const connection<T>& c) noexcept {
    return c.out_;
  }
  template <class T>
  static const channel_ref& in(const connection<T>& c) noexcept {
    return c.in_;
  }
  template <class T>
  static connection<T> make_connection(channel_ref out, channel_ref in) {
    return connection<T>{std::move(out), std::move(in)};
  }
};

}  // namespace troupe::ipc
