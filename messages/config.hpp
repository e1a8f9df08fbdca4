// troupe::config: the actor system configuration every troupe program starts from.
//
// It registers troupe's own message types, the "troupe" error category and loads CAF's io
// module (brokers carry troupe's wire protocol). Add your Protobuf types with one line:
//
//   troupe::config cfg;
//   cfg.add_messages<my::Ping, my::Pong>();
//   caf::actor_system sys{cfg};
//
// A registered type can be sent, matched and returned by actors, locally without serialization
// and across nodes as its Protobuf bytes. Tasks for the process pool are registered here too:
// cfg.tasks().add("square", square).
#pragma once

#include <caf/actor_system_config.hpp>

#include "troupe/messages/registry.hpp"
#include "troupe/messages/task_registry.hpp"

namespace troupe {

class config : public caf::actor_system_config {
public:
  config();

  /// Registers Protobuf message types: one line per type (or one line for many).
  template <class... Ts>
  config& add_messages() {
    (add_message<Ts>(), ...);
    return *this;
  }

  task_registry& tasks() noexcept {
    return tasks_;
  }
  const task_registry& tasks() const noexcept {
    return tasks_;
  }

private:
  task_registry tasks_;

  template <class T>
  void add_message() {
    message_registry::instance().add<T>();
    add_message_type<T>(protobuf_name<T>());
  }
};

}  // namespace troupe
