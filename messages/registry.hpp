// The process-wide table of Protobuf message types that may cross a node boundary.
//
// The wire names a payload by its full Protobuf name; this table turns a name back into a typed
// CAF message (decode) and a CAF message element into bytes (encode). Types are added by
// troupe::config::add_messages<T...>() before the actor system starts; lookups are lock-free
// reads of an immutable snapshot and may run on any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <typeindex>

#include <caf/expected.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "troupe/messages/protobuf.hpp"

namespace troupe {

/// How to move one registered type between bytes and a caf::message.
struct message_codec {
  std::string name;      // full Protobuf name
  std::type_index type;  // the C++ type
  // Views a type-erased element of that type as its Protobuf base.
  const google::protobuf::Message& (*view)(const void* element);
  // Parses bytes into a one-element message; corrupt bytes give errc::corrupt_payload.
  caf::expected<caf::message> (*decode)(const void* data, size_t size);
  // Parses bytes straight into a mailbox element (one allocation for element and value);
  // nullptr for corrupt bytes. The receiving path of the wire uses this.
  caf::mailbox_element_ptr (*make_element)(caf::strong_actor_ptr sender, caf::message_id mid,
                                           const void* data, size_t size);
};

class message_registry {
public:
  static message_registry& instance();

  template <class T>
  void add() {
    static_assert(is_protobuf_message<T>, "only Protobuf messages cross node boundaries");
    add_impl(message_codec{protobuf_name<T>(), std::type_index{typeid(T)},
                           [](const void* element) -> const google::protobuf::Message& {
                             return *static_cast<const T*>(element);
                           },
                           [](const void* data, size_t size) -> caf::expected<caf::message> {
                             T value;
                             if (!value.ParseFromArray(data, static_cast<int>(size)))
                               return make_error(errc::corrupt_payload, protobuf_name<T>());
                             return caf::make_message(std::move(value));
                           },
                           [](caf::strong_actor_ptr sender, caf::message_id mid, const void* data,
                              size_t size) -> caf::mailbox_element_ptr {
                             T value;
                             if (!value.ParseFromArray(data, static_cast<int>(size)))
                               return nullptr;
                             return caf::make_mailbox_element(std::move(sender), mid, {},
                                                              std::move(value));
                           }});
  }

  /// nullptr if no type of that name was registered.
  const message_codec* find(std::string_view name) const;
  const message_codec* find(std::type_index type) const;

private:
  struct table;
  message_registry();
  void add_impl(message_codec codec);
  std::shared_ptr<const table> snapshot() const;

  std::shared_ptr<const table> table_;
};

}  // namespace troupe
