// Tasks: functions the process pool runs by name on worker processes.
//
//   std::string formatter(const std::string& a, int64_t b) { return a + " " + std::to_string(b); }
//   cfg.tasks().add("formatter", formatter);   // in program setup: head and workers alike
//   cfg.tasks().add("twice", [](int64_t x) { return 2 * x; });
//   pool.submit(formatter, "Hello", 1);        // the head finds the name by the function
//
// A task is a function pointer, a captureless lambda or a stateless function object
// (task_traits.hpp) of 0..N task values (codec.hpp), returning one or void. On the worker, a
// call's argument record (a message with the arguments as fields 1..N) is decoded into the
// parameters, the task runs, and its result is recorded as field 1 (void: an empty record). A
// task that throws fails that one item, recorded with its exception's type (exceptions.hpp);
// the worker carries on.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "troupe/messages/codec.hpp"
#include "troupe/messages/exceptions.hpp"
#include "troupe/messages/items.hpp"
#include "troupe/messages/task_traits.hpp"

namespace troupe {

struct task_failure {
  uint32_t index;  // position of the item in its batch
  std::string message;
  // The exception's type name (exceptions.hpp: "std::out_of_range", or the demangled name of
  // any other type); empty when the item failed without an exception (arguments that did not
  // parse).
  std::string type;
  // Not the task's failure: the item's result was too large to send (errc::message_too_large).
  bool too_large = false;
};

// Today's one-argument names, kept while the pool moves to task_traits (see task_call.hpp).
template <class F>
using task_result_t = typename task_traits<std::decay_t<F>>::result;

template <class F>
requires(task_traits<std::decay_t<F>>::arity == 1) using task_argument_t =
    std::tuple_element_t<0, typename task_traits<std::decay_t<F>>::arguments>;

class task_registry {
public:
  /// Runs a batch: decodes each argument record of `args`, calls the task, appends one result
  /// record per argument to `results` (an empty record where the task failed). Before each
  /// item, `progress` (if set) is told its index: a watchdog on another thread reads it.
  using batch_runner = std::function<void(std::string_view args, std::string& results,
                                          std::vector<task_failure>& failures,
                                          const std::function<void(uint32_t)>& progress)>;

  struct entry {
    std::string name;
    batch_runner run;
    const void* address;        // the function's address when registered from a function pointer
    std::type_index type;       // the type of what was registered (function pointer or object)
    std::type_index arguments;  // std::tuple of the decayed parameter types
    // The single parameter's type for a one-parameter task, else `arguments`: today's check in
    // the pool; goes once the pool compares `arguments`.
    std::type_index argument;
    std::type_index result;
    size_t arity;
  };

  /// Registers `fn` as the task `name` (again: replaces it). A rule `fn` breaks is a
  /// static_assert naming the fix (check_task, task_traits.hpp).
  template <class F>
  task_registry& add(std::string name, F fn) {
    static_assert(check_task<F>());
    if constexpr (valid_task<F>)
      add_valid(std::move(name), std::move(fn));
    return *this;
  }

  const entry* find(const std::string& name) const {
    auto i = by_name_.find(name);
    return i == by_name_.end() ? nullptr : i->second.get();
  }

  /// The entry registered from this function (by address for a function pointer, by type for
  /// a lambda or function object), or nullptr. A function registered under two names is found
  /// under the first of them in alphabetical order.
  template <task_function F>
  const entry* find(const F& fn) const {
    using D = std::decay_t<F>;
    if constexpr (std::is_pointer_v<D> || std::is_function_v<D>)
      return find_function(reinterpret_cast<const void*>(static_cast<D>(fn)));
    else
      return lookup(by_type_, std::type_index{typeid(D)});
  }

  /// The entry registered from this function pointer, or nullptr.
  const entry* find_function(const void* address) const {
    return address == nullptr ? nullptr : lookup(by_address_, address);
  }

private:
  template <class F>
  void add_valid(std::string name, F fn) {
    using traits = task_traits<F>;
    using arguments = typename traits::arguments;
    using result = typename traits::result;
    const void* address = nullptr;
    if constexpr (std::is_pointer_v<F>) {
      if (fn == nullptr)
        throw std::invalid_argument("task '" + name + "': the function pointer is null");
      address = reinterpret_cast<const void*>(fn);
    }
    auto run = [fn](std::string_view args, std::string& results,
                    std::vector<task_failure>& failures,
                    const std::function<void(uint32_t)>& progress) mutable {
      results.reserve(results.size() + args.size());
      uint32_t index = 0;
      auto one = [&](std::string_view record) {
        if (progress)
          progress(index);
        run_one<result, arguments>(fn, record, index++, results, failures);
        return true;
      };
      if (!items::read_items(args, one))
        failures.push_back({index, "malformed argument bytes", {}});
    };
    std::type_index argument = typeid(arguments);
    if constexpr (traits::arity == 1)
      argument = typeid(std::tuple_element_t<0, arguments>);
    auto e =
        std::make_shared<entry>(entry{name, std::move(run), address, typeid(F), typeid(arguments),
                                      argument, typeid(result), traits::arity});
    by_name_[name] = std::move(e);
    reindex();
  }

  template <class Map, class Key>
  static const entry* lookup(const Map& map, const Key& key) {
    auto i = map.find(key);
    return i == map.end() ? nullptr : i->second;
  }

  // Registration happens once at setup: rebuilding the indexes keeps them right when a name is
  // registered again with another function.
  void reindex() {
    by_address_.clear();
    by_type_.clear();
    for (const auto& [name, e] : by_name_) {
      if (e->address != nullptr)
        by_address_.emplace(e->address, e.get());
      else
        by_type_.emplace(e->type, e.get());
    }
  }

  template <class R, class Arguments, class F>
  static void run_one(F& fn, std::string_view record, uint32_t index, std::string& results,
                      std::vector<task_failure>& failures) {
    Arguments args;
    if (!decode_fields(record, args)) {
      failures.push_back({index, "arguments do not parse as " + type_name<Arguments>(), {}});
      items::append_empty(results);
      return;
    }
    try {
      if constexpr (std::is_void_v<R>) {
        std::apply(fn, std::move(args));
        items::append_empty(results);
      } else {
        items::append_value(results, static_cast<R>(std::apply(fn, std::move(args))));
      }
    } catch (const std::exception& ex) {
      failures.push_back({index, ex.what(), exception_type_name(ex)});
      items::append_empty(results);
    } catch (...) {
      failures.push_back(
          {index, "an exception not derived from std::exception", current_exception_type_name()});
      items::append_empty(results);
    }
  }

  std::map<std::string, std::shared_ptr<entry>> by_name_;
  std::unordered_map<const void*, const entry*> by_address_;
  std::unordered_map<std::type_index, const entry*> by_type_;
};

}  // namespace troupe
