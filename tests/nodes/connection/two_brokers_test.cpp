// Two connection brokers in one process, over one socketpair ("mars" and "earth", as in CAF's
// two-node tests): the whole wire path (proxy, link, frames, broker, spawn protocol) without
// worker processes. The test plays both node managers.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include "../test_program.hpp"
#include "troupe/actors/atoms.hpp"
#include "troupe/nodes/connection.hpp"
#include "troupe/tests/messages/test.pb.h"

namespace {

using namespace std::chrono_literals;
using troupe::errc;
using troupe::test::Ping;
using troupe::test::Pong;
namespace detail = troupe::detail;
namespace wire = troupe::wire;

constexpr auto wait_limit = 10s;

Ping ping(int64_t value, std::string text = {}) {
  Ping p;
  p.set_value(value);
  p.set_text(std::move(text));
  return p;
}

wire::identity identity(std::string name, uint32_t pid, char host_byte) {
  return wire::identity{std::move(name), pid, std::string(20, host_byte)};
}

// Answers a Ping with a Big of ping.value() bytes.
caf::behavior big_reply(caf::event_based_actor*) {
  return {
      [](const Ping& ping) {
        troupe::test::Big big;
        big.set_blob(std::string(static_cast<size_t>(ping.value()), 'b'));
        return big;
      },
  };
}

troupe::test::setup_step big_reply_type{
    [](troupe::config& cfg) { cfg.add_actor_type("big_reply", big_reply); }};

struct TwoBrokers : testing::Test {
  TwoBrokers() {
    troupe::test::head_config(cfg);
  }

  void SetUp() override {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    // Bytes written here reach mars as if earth had sent them.
    into_mars = fcntl(fds[1], F_DUPFD_CLOEXEC, 0);
    ASSERT_GE(into_mars, 0);
    mars = detail::spawn_connection(
        sys, fds[0],
        config(1, "earth", identity("mars", 1001, 'm'), wire::role::connector, mars_manager));
    earth = detail::spawn_connection(sys, fds[1],
                                     config(2, "mars", identity("earth", 1002, 'e'),
                                            wire::role::acceptor, earth_manager, earth_max_frame));
    ASSERT_TRUE(wait_up(mars_manager, "earth"));
    ASSERT_TRUE(wait_up(earth_manager, "mars"));
  }

  void TearDown() override {
    if (into_mars >= 0)
      close(into_mars);
    self->send_exit(mars, caf::exit_reason::user_shutdown);
    self->send_exit(earth, caf::exit_reason::user_shutdown);
  }

  detail::connection_config config(uint64_t id, std::string address, wire::identity who,
                                   wire::role role, const caf::scoped_actor& manager,
                                   uint32_t max_frame = wire::default_max_frame_size) {
    detail::connection_config c;
    c.handshake.max_frame_size = max_frame;
    c.connection_id = id;
    c.address = std::move(address);
    c.self = std::move(who);
    c.handshake.role = role;
    c.manager = caf::actor{manager.ptr()};
    return c;
  }

  // The manager's node_up for the peer named `name`.
  bool wait_up(caf::scoped_actor& manager, const std::string& name) {
    bool up = false;
    manager->receive(
        [&](detail::node_up_atom, const troupe::peer& p) {
          EXPECT_EQ(p.name, name);
          up = true;
        },
        caf::after(wait_limit) >> [] { ADD_FAILURE() << "no node_up"; });
    return up;
  }

  // Why the manager's link went down, or a failure text.
  caf::error wait_down(caf::scoped_actor& manager) {
    caf::error reason = troupe::make_error(errc::connect_failed, "no node_down");
    manager->receive([&](detail::node_down_atom, uint64_t, caf::error& err) { reason = err; },
                     caf::after(wait_limit) >> [] {});
    return reason;
  }

  // An actor of `type` spawned on the far side of `connection`.
  caf::actor spawn_on(const caf::actor& connection, const std::string& type) {
    caf::actor result;
    self->request(connection, wait_limit, detail::spawn_atom::value, type, caf::message{})
        .receive([&](caf::actor& a) { result = std::move(a); },
                 [&](caf::error& err) { ADD_FAILURE() << troupe::describe(err); });
    return result;
  }

  troupe::config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  caf::scoped_actor mars_manager{sys};
  caf::scoped_actor earth_manager{sys};
  caf::actor mars;   // mars' end: reaches earth's actors
  caf::actor earth;  // earth's end
  int into_mars = -1;
  uint32_t earth_max_frame = wire::default_max_frame_size;  // what earth accepts
};

// Earth accepts small frames only: what mars sends it must fit them.
struct TwoBrokersSmallEarth : TwoBrokers {
  TwoBrokersSmallEarth() {
    earth_max_frame = 4096;
  }
};

TEST_F(TwoBrokers, ARequestReachesAnActorOnTheOtherSideAndItsResponseComesBack) {
  auto echo = spawn_on(mars, "echo");
  ASSERT_TRUE(echo);
  EXPECT_NE(echo.node(), sys.node()) << "a proxy for earth's actor, not a local actor";
  int64_t answer = 0;
  self->request(echo, wait_limit, ping(21))
      .receive([&](const Pong& pong) { answer = pong.value(); },
               [&](caf::error& err) { ADD_FAILURE() << troupe::describe(err); });
  EXPECT_EQ(answer, 42);
}

TEST_F(TwoBrokers, ARemoteActorsDeathIsSeenAsADownMessage) {
  auto echo = spawn_on(mars, "echo");
  ASSERT_TRUE(echo);
  self->monitor(echo);
  self->request(echo, wait_limit, ping(0, "quit"))
      .receive([](const Pong&) {},
               [&](caf::error& err) { ADD_FAILURE() << troupe::describe(err); });
  bool down = false;
  self->receive(
      [&](caf::down_msg& msg) {
        down = true;
        EXPECT_EQ(msg.source, echo.address());
        EXPECT_FALSE(msg.reason) << troupe::describe(msg.reason);  // it quit normally
      },
      caf::after(wait_limit) >> [] {});
  EXPECT_TRUE(down);
}

TEST_F(TwoBrokers, AGarbledFrameClosesTheLinkWithAProtocolError) {
  auto hole = spawn_on(mars, "blackhole");
  ASSERT_TRUE(hole);
  // An Envelope frame whose body is not a Protobuf message (an unterminated varint).
  std::vector<unsigned char> frame{0, 0, 0, 9, static_cast<unsigned char>(wire::kind::envelope)};
  frame.insert(frame.end(), 8, 0xFF);
  // A request waiting for earth when the link breaks; the asker says when it is on the link.
  auto test = caf::actor{self.ptr()};
  sys.spawn([hole, test](caf::event_based_actor* asker) -> caf::behavior {
    asker->request(hole, wait_limit, ping(1))
        .then([asker](const Pong&) { asker->quit(); },
              [asker, test](caf::error& err) {
                asker->send(test, std::move(err));
                asker->quit();
              });
    asker->send(test, troupe::flush_atom::value);
    return {[](troupe::flush_atom) {}};
  });
  bool sent = false;
  self->receive([&](troupe::flush_atom) { sent = true; }, caf::after(wait_limit) >> [] {});
  ASSERT_TRUE(sent);
  ASSERT_EQ(write(into_mars, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  auto mars_reason = wait_down(mars_manager);
  EXPECT_TRUE(troupe::is(mars_reason, errc::protocol_error)) << troupe::describe(mars_reason);
  // Earth hears why in mars' Goodbye.
  auto earth_reason = wait_down(earth_manager);
  EXPECT_TRUE(troupe::is(earth_reason, errc::protocol_error)) << troupe::describe(earth_reason);
  // The request waiting for earth fails at once, not by its timeout.
  caf::error failed;
  self->receive([&](caf::error& err) { failed = err; }, caf::after(wait_limit) >> [] {});
  EXPECT_TRUE(troupe::is(failed, errc::node_down)) << troupe::describe(failed);
}

}  // namespace

namespace {

TEST_F(TwoBrokersSmallEarth, AResponseOverTheRequestersFrameLimitComesBackAsThatError) {
  auto big = spawn_on(earth, "big_reply");  // on mars, reached from earth
  ASSERT_TRUE(big);
  caf::error err;
  bool answered = false;
  // The answer would not fit earth's frames: earth learns why at once, not by its timeout.
  self->request(big, wait_limit, ping(8000))
      .receive([&](const troupe::test::Big&) { ADD_FAILURE() << "a frame over the limit"; },
               [&](caf::error& e) {
                 err = std::move(e);
                 answered = true;
               });
  ASSERT_TRUE(answered);
  EXPECT_TRUE(troupe::is(err, errc::message_too_large)) << troupe::describe(err);
  EXPECT_NE(troupe::describe(err).find("4096"), std::string::npos) << troupe::describe(err);
  // The link is fine: a small answer still comes back.
  int64_t small = -1;
  self->request(big, wait_limit, ping(10))
      .receive([&](const troupe::test::Big& b) { small = static_cast<int64_t>(b.blob().size()); },
               [&](caf::error& e) { ADD_FAILURE() << troupe::describe(e); });
  EXPECT_EQ(small, 10);
}

}  // namespace
