// troupe::queue between threads and worker processes: order, maxsize, the end of the stream,
// a killed holder during a blocked get/put, and values a worker process must not put.
#include <csignal>
#include <future>
#include <string>

#include <caf/event_based_actor.hpp>

#include <gtest/gtest.h>

#include "../frame_limit_check.hpp"
#include "../head_fixture.hpp"
#include "troupe/nodes/ipc/handle_access.hpp"
#include "troupe/nodes/ipc/process.hpp"
#include "troupe/nodes/ipc/queue.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::queue;

// -- targets run by worker processes ------------------------------------------------------------

void double_each(queue<int64_t> in, queue<int64_t> out) {
  while (auto v = in.next())
    out.put(2 * *v);
  out.close();
}

void get_forever(queue<int64_t> q) {
  q.get();
}

// Holds `q` without touching it until `gate` has a value.
void hold(queue<int64_t> q, queue<int64_t> gate) {
  gate.get();
}

void put_five(queue<int64_t> q) {
  for (int64_t i = 1; i <= 5; ++i)
    q.put(i);
}

// A lying worker: puts a string's bytes into a queue of integers, reports what it was told.
void put_wrong_type(queue<int64_t> q, queue<std::string> report) {
  try {
    troupe::ipc::put(troupe::ipc::handle_access::ref(q), troupe::encode(std::string{"garbage"}),
                     5s);
    report.put("accepted");
  } catch (const troupe::channel_error& err) {
    report.put(std::string{"refused: "} + err.what());
  }
}

constexpr size_t over_the_limit = 17 * 1024 * 1024;  // the default frame limit is 16 MiB

// Reports the size of each value it gets, -1 for a get that timed out, until the end.
void report_sizes(queue<std::string> in, queue<int64_t> sizes) {
  for (;;) {
    try {
      auto v = in.next(3s);
      if (!v)
        break;
      sizes.put(static_cast<int64_t>(v->size()));
    } catch (const troupe::timeout_error&) {
      sizes.put(-1);
    }
  }
  sizes.close();
}

// Puts a value over the frame limit, reports what it was told, then puts a small one.
void put_too_large(queue<std::string> q, queue<std::string> report) {
  try {
    q.put(std::string(over_the_limit, 'x'), 5s);
    report.put("accepted");
  } catch (const troupe::channel_error& err) {
    report.put(std::string{"refused: "} + err.what());
  }
  q.put("after", 5s);
}

// The message of a refused value names its size and the limit, and how to change it.
void expect_names_the_limit(const std::string& said) {
  EXPECT_NE(said.find("message_too_large"), std::string::npos) << said;
  EXPECT_TRUE(troupe::test::names_a_size_just_over(said, over_the_limit)) << said;
  EXPECT_NE(said.find("16777216"), std::string::npos) << said;
  EXPECT_NE(said.find("--max-frame-size"), std::string::npos) << said;
}

troupe::test::setup_step queue_targets{[](troupe::config& cfg) {
  troupe::add_process_target(cfg, "report_sizes", report_sizes);
  troupe::add_process_target(cfg, "put_too_large", put_too_large);
  troupe::add_process_target(cfg, "double_each", double_each);
  troupe::add_process_target(cfg, "get_forever", get_forever);
  troupe::add_process_target(cfg, "hold", hold);
  troupe::add_process_target(cfg, "put_five", put_five);
  troupe::add_process_target(cfg, "put_wrong_type", put_wrong_type);
}};

struct Queue : troupe::test::head_fixture {
  Queue() : head_fixture(2000ms) {}
};

// -- one process --------------------------------------------------------------------------------

TEST_F(Queue, GivesValuesInOrderAndTheEndAfterClose) {
  queue<std::string> q{sys};
  q.put("a");
  q.put("b");
  q.close();
  EXPECT_THROW(q.put("c"), troupe::closed_error);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.next(), std::optional<std::string>{"b"});
  EXPECT_EQ(q.next(), std::nullopt);
  EXPECT_THROW(q.get(), troupe::closed_error);
}

TEST_F(Queue, GetOnAnEmptyQueueTimesOut) {
  queue<int64_t> q{sys};
  EXPECT_THROW(q.get(0ms), troupe::timeout_error);
  EXPECT_THROW(q.get(50ms), troupe::timeout_error);
  q.put(7);
  EXPECT_EQ(q.get(0ms), 7);
}

TEST_F(Queue, AFullQueueBlocksPutUntilItsTimeoutAndAGetMakesRoom) {
  queue<int64_t> q{sys, 2};
  q.put(1);
  q.put(2);
  EXPECT_THROW(q.put(3, 0ms), troupe::timeout_error);
  EXPECT_THROW(q.put(3, 100ms), troupe::timeout_error);
  auto blocked = std::async(std::launch::async, [&] { q.put(3, 10s); });
  EXPECT_EQ(blocked.wait_for(100ms), std::future_status::timeout);
  EXPECT_EQ(q.get(), 1);
  ASSERT_EQ(blocked.wait_for(10s), std::future_status::ready);
  blocked.get();
  EXPECT_EQ(q.get(), 2);
  EXPECT_EQ(q.get(), 3);
}

TEST_F(Queue, AnActorPutsAndGetsWithCallbacks) {
  queue<int64_t> q{sys, 1};
  std::promise<std::string> seen;
  sys.spawn([&](caf::event_based_actor* self) {
    q.async_put(self, 5, 1s, [self, &q, &seen](caf::expected<bool> stored) {
      if (!stored || !*stored)
        return seen.set_value("put failed");
      q.async_get(self, 1s, [&seen](caf::expected<std::optional<int64_t>> v) {
        seen.set_value(v && *v ? "got " + std::to_string(**v) : "get failed");
      });
    });
  });
  auto said = seen.get_future();
  ASSERT_EQ(said.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(said.get(), "got 5");
}

// -- worker processes ---------------------------------------------------------------------------

TEST_F(Queue, AWorkerGetsWhatTheHeadPutsAndAnswersOnAnotherQueue) {
  queue<int64_t> in{sys, 4};
  queue<int64_t> out{sys, 4};
  auto p = troupe::process::start(head, double_each, in, out);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto reader = std::async(std::launch::async, [&] {
    int64_t sum = 0;
    while (auto v = out.next(20s))
      sum += *v;
    return sum;
  });
  for (int64_t i = 1; i <= 100; ++i)
    in.put(i, 20s);
  in.close();
  ASSERT_EQ(reader.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(reader.get(), 2 * 5050);
  auto code = p->join(20s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, 0);
}

TEST_F(Queue, AWorkerBlockedOnAFullQueueGoesOnAsTheHeadGets) {
  queue<int64_t> q{sys, 1};
  auto p = troupe::process::start(head, put_five, q);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  for (int64_t i = 1; i <= 5; ++i)
    EXPECT_EQ(q.get(20s), i);
  auto code = p->join(20s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  EXPECT_THROW(q.get(0ms), troupe::timeout_error);
}

TEST_F(Queue, AKilledHolderFailsABlockedGetWithPeerLost) {
  queue<int64_t> q{sys};
  auto p = troupe::process::start(head, get_forever, q);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto blocked = std::async(std::launch::async, [&] { return q.get(); });
  EXPECT_EQ(blocked.wait_for(200ms), std::future_status::timeout);
  p->kill();
  ASSERT_EQ(blocked.wait_for(10s), std::future_status::ready) << "get still blocked after kill";
  EXPECT_THROW(blocked.get(), troupe::peer_lost_error);
  EXPECT_THROW(q.put(1), troupe::peer_lost_error);
  auto code = p->join(10s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, -SIGKILL);
}

TEST_F(Queue, AKilledHolderFailsABlockedPutWithPeerLost) {
  queue<int64_t> q{sys, 1};
  queue<int64_t> gate{sys};
  q.put(1);
  auto p = troupe::process::start(head, hold, q, gate);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto blocked = std::async(std::launch::async, [&] { q.put(3); });
  EXPECT_EQ(blocked.wait_for(200ms), std::future_status::timeout);
  p->kill();
  ASSERT_EQ(blocked.wait_for(10s), std::future_status::ready) << "put still blocked after kill";
  EXPECT_THROW(blocked.get(), troupe::peer_lost_error);
  ASSERT_TRUE(p->join(10s));
}

TEST_F(Queue, AValueThatIsNotTheQueuesTypeIsRefused) {
  queue<int64_t> q{sys};
  queue<std::string> report{sys};
  auto p = troupe::process::start(head, put_wrong_type, q, report);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto said = report.get(20s);
  EXPECT_EQ(said.rfind("refused: ", 0), 0u) << said;
  EXPECT_NE(said.find("not of type int64_t"), std::string::npos) << said;
  EXPECT_THROW(q.get(0ms), troupe::timeout_error) << "the garbage entered the queue";
  ASSERT_TRUE(p->join(20s));
}

TEST_F(Queue, AValueOverTheFrameLimitIsRefusedAtPutAndNothingIsLost) {
  queue<std::string> in{sys, 1};
  queue<int64_t> sizes{sys};
  auto p = troupe::process::start(head, report_sizes, in, sizes);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  in.put("a", 20s);
  // Refused before it waits for a slot (the queue may be full) and before it is stored.
  auto big = std::async(std::launch::async, [&] { in.put(std::string(over_the_limit, 'x')); });
  ASSERT_EQ(big.wait_for(20s), std::future_status::ready) << "the put waited";
  try {
    big.get();
    ADD_FAILURE() << "a value over the frame limit was accepted";
  } catch (const troupe::channel_error& err) {
    EXPECT_TRUE(troupe::is(err.error(), troupe::errc::message_too_large)) << err.what();
    expect_names_the_limit(err.what());
  }
  in.put("bc", 20s);  // the queue is usable, its slot was not taken
  in.close();
  // The worker's bounded gets saw every value that was stored, none timed out.
  EXPECT_EQ(sizes.get(20s), 1);
  EXPECT_EQ(sizes.get(20s), 2);
  EXPECT_EQ(sizes.next(20s), std::nullopt);
  auto code = p->join(20s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, 0);
}

TEST_F(Queue, AValueOverTheFrameLimitIsRefusedAtAWorkersPut) {
  queue<std::string> q{sys, 1};
  queue<std::string> report{sys};
  auto p = troupe::process::start(head, put_too_large, q, report);
  ASSERT_TRUE(p) << troupe::describe(p.error());
  auto said = report.get(20s);
  EXPECT_EQ(said.rfind("refused: ", 0), 0u) << said;
  expect_names_the_limit(said);
  EXPECT_EQ(q.get(20s), "after");
  EXPECT_THROW(q.get(0ms), troupe::timeout_error);
  auto code = p->join(20s);
  ASSERT_TRUE(code) << troupe::describe(code.error());
  EXPECT_EQ(*code, 0);
}

}  // namespace
