// The worker's side of a process target: the runner actor collects the channels the head
// attached, then runs the target on a thread of its own (targets block: they get from queues).
#include "troupe/nodes/ipc/target.hpp"

#include <map>
#include <mutex>
#include <thread>

#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/messages/error.hpp"
#include "troupe/messages/protobuf.hpp"
#include "troupe/nodes/ipc/ipc.pb.h"
#include "troupe/nodes/log.hpp"

namespace troupe::ipc {

// -- the registry ---------------------------------------------------------------------------------

struct target_registry::table {
  mutable std::mutex mtx;
  std::map<std::string, std::shared_ptr<const target_entry>> by_name;
};

target_registry::target_registry() : table_(std::make_shared<table>()) {}

target_registry& target_registry::instance() {
  static target_registry registry;
  return registry;
}

void target_registry::add(target_entry entry) {
  std::lock_guard<std::mutex> guard{table_->mtx};
  auto name = entry.name;
  table_->by_name[name] = std::make_shared<const target_entry>(std::move(entry));
}

std::shared_ptr<const target_entry> target_registry::find(const std::string& name) const {
  std::lock_guard<std::mutex> guard{table_->mtx};
  auto i = table_->by_name.find(name);
  return i == table_->by_name.end() ? nullptr : i->second;
}

std::shared_ptr<const target_entry> target_registry::find(const void* address) const {
  std::lock_guard<std::mutex> guard{table_->mtx};
  for (auto& kv : table_->by_name)
    if (address != nullptr && kv.second->address == address)
      return kv.second;
  return nullptr;
}

// -- the runner -----------------------------------------------------------------------------------

namespace {

using finished_atom = caf::atom_constant<caf::atom("ipcfinish")>;

// More channel arguments than any target has parameters: a bound on what a head may send.
constexpr uint32_t max_slots = 256;

struct attached_slot {
  std::string value_type;
  std::optional<channel_ref> ends[3];
};

struct runner_state {
  std::map<uint32_t, attached_slot> slots;
  std::optional<caf::response_promise> running;
  static inline const char* name = "troupe.ipc.target";
};

using runner_actor = caf::stateful_actor<runner_state>;

caf::expected<std::vector<incoming_argument>> arguments(runner_actor* self, const Run& run) {
  std::vector<incoming_argument> args;
  for (auto& in : run.args()) {
    incoming_argument arg;
    arg.value_type = in.value_type();
    if (in.kind_case() == Argument::kChannel) {
      auto slot = self->state.slots.find(in.channel());
      if (slot == self->state.slots.end())
        return make_error(errc::protocol_error, "argument " + std::to_string(args.size() + 1)
                                                    + ": a channel that was not attached");
      arg.is_channel = true;
      arg.value_type = slot->second.value_type;
      for (int end = 0; end < 3; ++end)
        arg.ends[end] = slot->second.ends[end];
    } else {
      arg.value = in.value();
    }
    args.push_back(std::move(arg));
  }
  return args;
}

// The target's own thread: the actor must not block, and the target may wait for minutes.
void run_target(caf::actor runner, std::shared_ptr<const target_entry> entry,
                std::vector<incoming_argument> args) {
  std::thread{[runner = std::move(runner), entry = std::move(entry),
               args = std::move(args)]() mutable {
    Finished finished;
    try {
      entry->run(args);
    } catch (const std::exception& ex) {
      finished.set_failed(true);
      finished.set_message(ex.what());
    } catch (...) {
      finished.set_failed(true);
      finished.set_message("an exception that is not a std::exception");
    }
    if (finished.failed())
      log::get().error("process target '{}' raised: {}", entry->name, finished.message());
    caf::anon_send(runner, finished_atom::value, std::move(finished));
  }}.detach();
}

caf::behavior runner(runner_actor* self) {
  return {
      [self](const Attach& attach) {
        auto channel = caf::actor_cast<caf::actor>(self->current_sender());
        if (!channel || attach.slot() >= max_slots || attach.end() > pipe_recv
            || self->state.running)
          return;
        auto& slot = self->state.slots[attach.slot()];
        slot.value_type = attach.value_type();
        slot.ends[attach.end()] = channel_ref{&self->system(), channel, attach.maxsize(), nullptr};
      },
      [self](const Run& run) -> caf::result<Finished> {
        if (self->state.running)
          return make_error(errc::protocol_error, "this process runs its target already");
        auto entry = target_registry::instance().find(run.target());
        if (!entry)
          return make_error(errc::unknown_task,
                            "no process target named '" + run.target()
                                + "' in this program: register it in the program's setup "
                                  "with troupe::add_process_target(cfg, name, fn)");
        auto args = arguments(self, run);
        if (!args)
          return std::move(args.error());
        auto rp = self->make_response_promise<Finished>();
        self->state.running = rp;
        run_target(caf::actor_cast<caf::actor>(self), std::move(entry), std::move(*args));
        return rp;
      },
      [self](finished_atom, Finished& finished) {
        // Only the target's own thread sends this (a local atom cannot cross the wire).
        if (self->state.running)
          self->state.running->deliver(std::move(finished));
        self->quit();
      },
  };
}

}  // namespace

void register_runner(config& cfg) {
  cfg.add_actor_type(runner_type, runner);
  cfg.add_messages<Reserve, Granted, Put, Accepted, Get, Item, Close, Attach, Run, Finished>();
}

}  // namespace troupe::ipc
