// The spawn protocol (docs/protocol.md, "Spawning"): SpawnRequest / SpawnResponse, both ways.
// A peer may have at most max_spawned live actors spawned here; they end with the link.
#include "troupe/nodes/connection/broker.hpp"

#include <caf/actor_registry.hpp>

#include "troupe/messages/registry.hpp"
#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/connection/wire_error.hpp"
#include "troupe/nodes/log.hpp"

namespace troupe::detail {

void connection_broker::on_spawn_request(std::string_view body) {
  wire::SpawnRequest req;
  if (!req.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    protocol_violation(cfg_.address + " sent a SpawnRequest that does not parse");
    return;
  }
  wire::SpawnResponse resp;
  resp.set_request_id(req.request_id());
  auto fail = [&](errc code, const std::string& detail) {
    log::rejected("spawn request", cfg_.address + ": " + detail);
    *resp.mutable_error() = to_wire(make_error(code, detail));
  };
  caf::message args;
  caf::strong_actor_ptr spawned_actor;
  if (link_->spawned_count() >= cfg_.max_spawned) {
    fail(errc::too_many, "this node already runs " + std::to_string(cfg_.max_spawned)
                             + " actors spawned for " + cfg_.address + " (its limit)");
  } else if (!req.args_type().empty()) {
    if (auto* codec = message_registry::instance().find(req.args_type())) {
      if (auto decoded = codec->decode(req.args().data(), req.args().size()))
        args = std::move(*decoded);
      else
        fail(errc::corrupt_payload, "spawn arguments do not parse as " + req.args_type());
    } else {
      fail(errc::unknown_message_type,
           "spawn argument type " + req.args_type() + " is not registered on this node");
    }
  }
  if (!resp.has_error()) {
    auto spawned = system().spawn<caf::actor>(req.actor_type(), std::move(args));
    if (!spawned) {
      fail(errc::unknown_actor_type,
           "cannot spawn '" + req.actor_type() + "': " + system().render(spawned.error()));
    } else {
      spawned_actor = caf::actor_cast<caf::strong_actor_ptr>(*spawned);
      system().registry().put(spawned_actor->id(), spawned_actor);
      resp.set_actor(spawned_actor->id());
    }
  }
  link_->append(
      [&](std::vector<char>& out) { wire::append_frame(out, wire::kind::spawn_response, resp); });
  // Only now watch it: an actor that is done already (it may finish at once) must be reported
  // down after the peer learned that it exists, or the peer's proxy would wait forever.
  if (spawned_actor && !link_->export_spawned(spawned_actor))
    send_exit(caf::actor_cast<caf::actor>(spawned_actor),
              make_error(errc::node_down, "its link closed"));
}

void connection_broker::spawn_remote(const std::string& type, const caf::message& args,
                                     caf::response_promise rp) {
  wire::SpawnRequest req;
  req.set_request_id(next_spawn_id_++);
  req.set_actor_type(type);
  if (!args.empty()) {
    auto rtti = args.type(0);
    const auto* codec =
        args.size() == 1 && rtti.second ? message_registry::instance().find(*rtti.second) : nullptr;
    if (!codec) {
      rp.deliver(make_error(errc::not_serializable,
                            "spawn arguments must be one registered Protobuf message"));
      return;
    }
    req.set_args_type(codec->name);
    req.set_args(codec->view(args.at(0)).SerializeAsString());
  }
  bool sent = established_ && link_->append([&](std::vector<char>& out) {
    wire::append_frame(out, wire::kind::spawn_request, req);
  });
  if (!sent) {
    rp.deliver(make_error(errc::node_down, "connection to " + peer_.name + " is closed"));
    return;
  }
  pending_spawns_.emplace(req.request_id(), std::move(rp));
  drain();
}

void connection_broker::on_spawn_response(std::string_view body) {
  wire::SpawnResponse resp;
  if (!resp.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    protocol_violation(cfg_.address + " sent a SpawnResponse that does not parse");
    return;
  }
  auto i = pending_spawns_.find(resp.request_id());
  if (i == pending_spawns_.end())
    return;
  auto rp = std::move(i->second);
  pending_spawns_.erase(i);
  if (resp.has_error())
    rp.deliver(from_wire(resp.error()));
  else
    rp.deliver(caf::actor_cast<caf::actor>(proxy_for(resp.actor())));
}

}  // namespace troupe::detail
