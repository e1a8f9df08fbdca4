#include "troupe/nodes/connection/proxy.hpp"

#include <caf/actor_proxy.hpp>
#include <caf/make_actor.hpp>
#include <caf/system_messages.hpp>

#include "troupe/messages/error.hpp"
#include "troupe/nodes/log.hpp"

namespace troupe::detail {
namespace {

class remote_proxy final : public caf::actor_proxy {
public:
  remote_proxy(caf::actor_config& cfg, std::shared_ptr<link_state> link)
      : actor_proxy(cfg), link_(std::move(link)) {}

  const char* name() const override {
    return "troupe.remote_proxy";
  }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    auto& content = what->content();
    if (content.match_elements<caf::exit_msg>() || content.match_elements<caf::down_msg>())
      return;
    auto mid = what->mid;
    wire::envelope_header h;
    h.target = id();
    h.request_id = mid.is_async() ? 0 : mid.request_id().integer_value();
    h.is_response = mid.is_response();
    h.urgent = mid.is_urgent_message();
    // An actor of a third node: troupe does not route between nodes, so the peer could not
    // answer it. Deliver anonymously rather than misaddressed. (A reference, not a copy: the
    // element holds the sender, and a copy is two atomic operations per message.)
    static const caf::strong_actor_ptr anonymous;
    const caf::strong_actor_ptr& sender =
        what->sender && typeid(*what->sender->get()) == typeid(remote_proxy) ? anonymous
                                                                             : what->sender;
    if (sender)
      h.sender = sender->id();
    std::string problem;
    switch (link_->send(h, content, sender, mid, problem)) {
      case send_status::sent:
        return;
      case send_status::closed:
        reply_error(*what, make_error(errc::node_down, "connection to the actor's node is closed"));
        return;
      case send_status::not_serializable:
        log::get().error("cannot send to remote actor {}: {}", id(), problem);
        reply_error(*what, make_error(errc::not_serializable, problem));
        return;
      case send_status::too_large:
        log::get().error("refused to send to remote actor {}: {}", id(), problem);
        if (h.is_response)
          answer_instead(h, sender, mid, make_error(errc::message_too_large, problem));
        else
          reply_error(*what, make_error(errc::message_too_large, problem));
        return;
    }
  }

  void kill_proxy(caf::execution_unit* ctx, caf::error reason) override {
    cleanup(std::move(reason), ctx);
  }

private:
  // A request that cannot be sent is answered with the reason (CAF's bounce() would always
  // say request_receiver_down); a one-way message is logged above.
  static void reply_error(const caf::mailbox_element& what, caf::error err) {
    if (what.sender && what.mid.is_request())
      what.sender->enqueue(nullptr, what.mid.response_id(), caf::make_message(std::move(err)),
                           nullptr);
  }

  // A response that cannot cross: the remote requester gets the reason as its answer, at once,
  // instead of waiting for a reply that never comes (an error frame is small; if even that
  // cannot be sent, the link is closing and the requester learns that instead).
  void answer_instead(const wire::envelope_header& h, const caf::strong_actor_ptr& sender,
                      caf::message_id mid, caf::error err) {
    auto msg = caf::make_message(std::move(err));
    std::string ignored;
    link_->send(h, msg.content(), sender, mid, ignored);
  }

  std::shared_ptr<link_state> link_;
};

}  // namespace

caf::strong_actor_ptr make_remote_proxy(caf::actor_system& sys, caf::actor_id id,
                                        const caf::node_id& node,
                                        std::shared_ptr<link_state> link) {
  caf::actor_config cfg;
  return caf::make_actor<remote_proxy, caf::strong_actor_ptr>(id, node, &sys, cfg, std::move(link));
}

}  // namespace troupe::detail
