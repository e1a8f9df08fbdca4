#include "troupe/messages/registry.hpp"

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace troupe {

// Copy-on-write: registration (rare, at start-up) copies the table; lookups (every message on
// the wire) read a snapshot without locking.
struct message_registry::table {
  std::unordered_map<std::string, std::shared_ptr<const message_codec>> by_name;
  std::unordered_map<std::type_index, std::shared_ptr<const message_codec>> by_type;
};

namespace {
std::mutex writer_mutex;
}  // namespace

message_registry::message_registry() : table_(std::make_shared<const table>()) {}

message_registry& message_registry::instance() {
  static message_registry registry;
  return registry;
}

std::shared_ptr<const message_registry::table> message_registry::snapshot() const {
  return std::atomic_load(&table_);
}

void message_registry::add_impl(message_codec codec) {
  std::lock_guard<std::mutex> guard{writer_mutex};
  auto current = snapshot();
  if (current->by_name.count(codec.name) > 0)
    return;
  auto next = std::make_shared<table>(*current);
  auto entry = std::make_shared<const message_codec>(std::move(codec));
  next->by_name.emplace(entry->name, entry);
  next->by_type.emplace(entry->type, entry);
  std::atomic_store(&table_, std::shared_ptr<const table>{std::move(next)});
}

const message_codec* message_registry::find(std::string_view name) const {
  auto current = snapshot();
  auto i = current->by_name.find(std::string{name});
  return i == current->by_name.end() ? nullptr : i->second.get();
}

const message_codec* message_registry::find(std::type_index type) const {
  auto current = snapshot();
  auto i = current->by_type.find(type);
  return i == current->by_type.end() ? nullptr : i->second.get();
}

}  // namespace troupe
