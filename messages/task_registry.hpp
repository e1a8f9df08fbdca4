// Tasks: functions the process pool runs by name on worker processes.
//
//   int64_t square(int64_t x) { return x * x; }
//   cfg.tasks().add("square", square);        // in program setup: head and workers alike
//   pool.map(square, inputs);                  // the head finds the name by the function
//
// A task takes one argument and returns one value; each is a registered-or-not Protobuf
// message or a plain value (integers, bool, double, float, std::string; see items.hpp). A task
// that throws fails that one item; the worker carries on.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <vector>

#include "troupe/messages/items.hpp"

namespace troupe {

struct task_failure {
  uint32_t index;  // position of the item in its batch
  std::string message;
};

namespace detail {

// Empty for anything that is not a one-argument callable, so overloads taking a task name
// instead of a function stay viable.
template <class F, class = void>
struct task_signature {};

template <class R, class A>
struct task_signature<R (*)(A), void> {
  using result = R;
  using argument = std::decay_t<A>;
};

template <class M>
struct member_signature {};

template <class C, class R, class A>
struct member_signature<R (C::*)(A) const> : task_signature<R (*)(A)> {};

template <class C, class R, class A>
struct member_signature<R (C::*)(A)> : task_signature<R (*)(A)> {};

template <class F>
struct task_signature<F, std::void_t<decltype(&F::operator())>>
    : member_signature<decltype(&F::operator())> {};

}  // namespace detail

template <class F>
using task_result_t = typename detail::task_signature<std::decay_t<F>>::result;

template <class F>
using task_argument_t = typename detail::task_signature<std::decay_t<F>>::argument;

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
    const void* address;  // the function's address when registered from a function pointer
    std::type_index argument;
    std::type_index result;
  };

  template <class F>
  task_registry& add(std::string name, F fn) {
    using R = task_result_t<F>;
    using A = task_argument_t<F>;
    const void* address = nullptr;
    if constexpr (std::is_pointer<F>::value)
      address = reinterpret_cast<const void*>(fn);
    auto run = [fn](std::string_view args, std::string& results,
                    std::vector<task_failure>& failures,
                    const std::function<void(uint32_t)>& progress) {
      results.reserve(results.size() + args.size());
      uint32_t index = 0;
      auto one = [&](std::string_view record) {
        if (progress)
          progress(index);
        run_one<R, A>(fn, record, index++, results, failures);
        return true;
      };
      if (!items::read_items(args, one))
        failures.push_back({index, "malformed argument bytes"});
    };
    by_name_[name] = std::make_shared<entry>(entry{
        name, std::move(run), address, std::type_index{typeid(A)}, std::type_index{typeid(R)}});
    return *this;
  }

  const entry* find(const std::string& name) const {
    auto i = by_name_.find(name);
    return i == by_name_.end() ? nullptr : i->second.get();
  }

  /// The entry registered from this function pointer, or nullptr.
  const entry* find_function(const void* address) const {
    for (auto& kv : by_name_)
      if (address != nullptr && kv.second->address == address)
        return kv.second.get();
    return nullptr;
  }

private:
  template <class R, class A, class F>
  static void run_one(F& fn, std::string_view record, uint32_t index, std::string& results,
                      std::vector<task_failure>& failures) {
    A arg{};
    if (!items::codec<A>::parse(record, arg)) {
      failures.push_back({index, "argument does not parse"});
      items::append_empty(results);
      return;
    }
    try {
      if constexpr (std::is_void<R>::value) {
        fn(arg);
        items::append_empty(results);
      } else {
        items::append(results, fn(arg));
      }
    } catch (const std::exception& ex) {
      failures.push_back({index, ex.what()});
      items::append_empty(results);
    } catch (...) {
      failures.push_back({index, "unknown exception"});
      items::append_empty(results);
    }
  }

  std::map<std::string, std::shared_ptr<entry>> by_name_;
};

}  // namespace troupe
