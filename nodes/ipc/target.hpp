// Process targets: functions that a worker process runs as its whole job, the target of
// Python's Process(target=printer, args=(q,)).
//
//   void printer(troupe::queue<std::string> q) { while (auto v = q.next()) std::cout << *v; }
//   prog.setup = [](troupe::config& cfg) { troupe::add_process_target(cfg, "printer", printer); };
//   auto p = troupe::process::start(node, printer, q);      // process.hpp
//
// A target's parameters are queues (queue.hpp), pipe ends (pipe.hpp) and values troupe's codec
// encodes (messages/codec.hpp), taken by value or const reference; its result is ignored. A
// target that throws makes its process's exitcode 1, as an uncaught exception does in Python.
// Register targets in the program's setup, which runs in every process: the worker finds the
// function by name. Captureless lambdas register as `+[](...) {...}`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "troupe/messages/codec.hpp"
#include "troupe/messages/config.hpp"
#include "troupe/nodes/ipc/handle_access.hpp"

namespace troupe::ipc {

/// What a channel is to a target argument.
enum end_kind : uint32_t {
  queue_end = 0,  // the queue itself
  pipe_send = 1,  // the direction a pipe end sends into
  pipe_recv = 2,  // the direction it receives from
};

/// One target argument as the head sends it: an encoded value, or channels to attach.
struct outgoing_argument {
  struct channel {
    caf::actor actor;
    end_kind end;
    bool may_put;
    bool may_get;
  };
  std::string value;
  std::string value_type;
  std::vector<channel> channels;  // empty for a value
};

/// One target argument as the worker receives it.
struct incoming_argument {
  std::string value;
  std::string value_type;
  bool is_channel = false;
  std::optional<channel_ref> ends[3];  // by end_kind
};

template <class T>
struct is_queue : std::false_type {};
template <class T>
struct is_queue<queue<T>> : std::true_type {};
template <class T>
struct is_connection : std::false_type {};
template <class T>
struct is_connection<connection<T>> : std::true_type {};

template <class P>
concept target_parameter = is_queue<std::decay_t<P>>::value || is_connection<
    std::decay_t<P>>::value || wire_value<std::decay_t<P>>;

/// The parameter the head passes `arg` as (checked at compile time by process::start).
template <class P, class A>
outgoing_argument make_argument(A&& arg) {
  using D = std::decay_t<P>;
  outgoing_argument out;
  if constexpr (is_queue<D>::value) {
    static_assert(std::is_same_v<std::decay_t<A>, D>,
                  "a queue<T> parameter takes a troupe::queue of the same T");
    out.value_type = value_type_name<typename D::value_type>();
    out.channels.push_back({handle_access::ref(arg).actor, queue_end, true, true});
  } else if constexpr (is_connection<D>::value) {
    static_assert(std::is_same_v<std::decay_t<A>, D>,
                  "a connection<T> parameter takes a pipe end (troupe::connection) of the same T");
    out.value_type = value_type_name<typename D::value_type>();
    out.channels.push_back({handle_access::out(arg).actor, pipe_send, true, false});
    out.channels.push_back({handle_access::in(arg).actor, pipe_recv, false, true});
  } else {
    static_assert(std::is_convertible_v<A&&, D>,
                  "a process target's argument must convert to its parameter's type");
    out.value_type = value_type_name<D>();
    out.value = encode(static_cast<D>(std::forward<A>(arg)));
  }
  return out;
}

/// The parameter of type P made from what the head sent (worker side); throws
/// std::invalid_argument naming the argument if it is not what the target expects.
template <class P>
std::decay_t<P> make_parameter(incoming_argument& arg, size_t index) {
  using D = std::decay_t<P>;
  auto fail = [&](const std::string& why) {
    return std::invalid_argument{"argument " + std::to_string(index + 1) + ": " + why};
  };
  if constexpr (is_queue<D>::value || is_connection<D>::value) {
    const auto& expected = value_type_name<typename D::value_type>();
    if (!arg.is_channel || arg.value_type != expected)
      throw fail("expected a channel of " + expected + ", the head sent "
                 + (arg.is_channel ? "a channel of " : "a value of ") + arg.value_type);
    if constexpr (is_queue<D>::value) {
      if (!arg.ends[queue_end])
        throw fail("expected a queue, the head sent a pipe end");
      return handle_access::make_queue<typename D::value_type>(*arg.ends[queue_end]);
    } else {
      if (!arg.ends[pipe_send] || !arg.ends[pipe_recv])
        throw fail("expected a pipe end, the head sent a queue");
      return handle_access::make_connection<typename D::value_type>(*arg.ends[pipe_send],
                                                                    *arg.ends[pipe_recv]);
    }
  } else {
    if (arg.is_channel || arg.value_type != value_type_name<D>())
      throw fail("expected a value of " + value_type_name<D>() + ", the head sent "
                 + (arg.is_channel ? "a channel of " : "a value of ") + arg.value_type);
    D value;
    if (!decode(arg.value, value))
      throw fail("the bytes do not decode as " + value_type_name<D>());
    return value;
  }
}

struct target_entry {
  std::string name;
  const void* address = nullptr;
  size_t arity = 0;
  std::function<void(std::vector<incoming_argument>&)> run;
};

/// Every process's table of targets (registered in setup, read by process::start and by the
/// worker's runner).
class target_registry {
public:
  static target_registry& instance();
  void add(target_entry entry);
  std::shared_ptr<const target_entry> find(const std::string& name) const;
  std::shared_ptr<const target_entry> find(const void* address) const;

private:
  struct table;
  target_registry();
  std::shared_ptr<table> table_;
};

/// Registers the worker side (the runner actor type, ipc.proto's messages) in `cfg`.
void register_runner(config& cfg);

/// The actor type a worker process runs a target in.
inline constexpr const char* runner_type = "troupe.ipc.target";

}  // namespace troupe::ipc

namespace troupe {

template <class R, class... Ps>
void add_process_target(config& cfg, std::string name, R (*fn)(Ps...)) {
  static_assert((ipc::target_parameter<Ps> && ...),
                "a process target's parameters are troupe::queue<T>, troupe::connection<T> or "
                "values troupe's codec encodes (see messages/codec.hpp)");
  ipc::register_runner(cfg);
  ipc::target_entry entry;
  entry.name = std::move(name);
  entry.address = reinterpret_cast<const void*>(fn);
  entry.arity = sizeof...(Ps);
  entry.run = [fn](std::vector<ipc::incoming_argument>& args) {
    if (args.size() != sizeof...(Ps))
      throw std::invalid_argument{"the target takes " + std::to_string(sizeof...(Ps))
                                  + " arguments, the head sent " + std::to_string(args.size())};
    [&]<size_t... I>(std::index_sequence<I...>) {
      std::tuple<std::decay_t<Ps>...> params{ipc::make_parameter<Ps>(args[I], I)...};
      std::apply([&](auto&... p) { fn(p...); }, params);
    }
    (std::index_sequence_for<Ps...>{});
  };
  ipc::target_registry::instance().add(std::move(entry));
}

}  // namespace troupe
