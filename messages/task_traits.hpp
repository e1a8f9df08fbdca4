// What a task is: a function pointer, a captureless lambda or a stateless function object with
// one operator(), taking 0..N task values and returning one (or void).
//
//   task_traits<F>::result     the return type, decayed (void allowed)
//   task_traits<F>::arguments  std::tuple of the decayed parameter types
//   task_traits<F>::arity      the number of parameters
//
// task_traits<F> is empty for anything else, so overloads that take a task's name instead of a
// function stay viable. check_task<F>() turns each rule a task breaks into one static_assert
// that names the rule and the fix.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>

#include "troupe/messages/codec.hpp"

namespace troupe {

namespace detail {

template <class R, class... A>
struct signature_traits {
  using result = std::decay_t<R>;
  using arguments = std::tuple<std::decay_t<A>...>;
  using parameters = std::tuple<A...>;  // as declared, references included
  static constexpr size_t arity = sizeof...(A);
};

template <class M>
struct call_operator_traits {};

// Every cv/ref/noexcept spelling of a call operator.
#define TROUPE_DETAIL_CALL_OPERATOR(quals) \
  template <class C, class R, class... A>  \
  struct call_operator_traits<R (C::*)(A...) quals> : signature_traits<R, A...> {};
TROUPE_DETAIL_CALL_OPERATOR()
TROUPE_DETAIL_CALL_OPERATOR(const)
TROUPE_DETAIL_CALL_OPERATOR(&)
TROUPE_DETAIL_CALL_OPERATOR(const&)
TROUPE_DETAIL_CALL_OPERATOR(noexcept)
TROUPE_DETAIL_CALL_OPERATOR(const noexcept)
TROUPE_DETAIL_CALL_OPERATOR(&noexcept)
TROUPE_DETAIL_CALL_OPERATOR(const& noexcept)
#undef TROUPE_DETAIL_CALL_OPERATOR

}  // namespace detail

template <class F>
struct task_traits {};

template <class R, class... A>
struct task_traits<R (*)(A...)> : detail::signature_traits<R, A...> {};

template <class R, class... A>
struct task_traits<R (*)(A...) noexcept> : detail::signature_traits<R, A...> {};

template <class R, class... A>
struct task_traits<R(A...)> : detail::signature_traits<R, A...> {};

template <class R, class... A>
struct task_traits<R(A...) noexcept> : detail::signature_traits<R, A...> {};

template <class F>
requires std::is_class_v<F> && requires {
  &F::operator();
}
struct task_traits<F> : detail::call_operator_traits<decltype(&F::operator())> {};

/// F has one signature troupe can read (it may still break a rule of check_task).
template <class F>
concept task_function = requires {
  typename task_traits<std::decay_t<F>>::arguments;
};

namespace detail {

template <class P>
constexpr bool parameter_is_ok() {
  static_assert(!(std::is_lvalue_reference_v<P> && !std::is_const_v<std::remove_reference_t<P>>),
                "troupe: a task's parameter is a non-const reference: what the worker writes "
                "into it never comes back. Fix: take it by value or const&, return the result");
  static_assert(wire_value<std::decay_t<P>>,
                "troupe: a task's parameter type is not a task value. Fix: use integers, "
                "floating point, bool, std::string, std::vector<std::byte>, enums, Protobuf "
                "messages, std::vector/array/map/unordered_map/set/optional/pair/tuple of "
                "those, or a struct with TROUPE_FIELDS(type, fields...)");
  return true;
}

template <class... P>
constexpr bool parameters_are_ok(std::tuple<P...>*) {
  return (parameter_is_ok<P>() && ...);
}

template <class... P>
constexpr bool parameters_valid(std::tuple<P...>*) {
  return (
      (!(std::is_lvalue_reference_v<P> && !std::is_const_v<std::remove_reference_t<P>>)&&wire_value<
          std::decay_t<P>>)&&...);
}

}  // namespace detail

/// Checks every rule a task must follow; each broken rule is one static_assert naming the fix.
template <class F>
constexpr bool check_task() {
  static_assert(task_function<F>,
                "troupe: a task must be a function, a captureless lambda or a function object "
                "with exactly one operator() (not a generic lambda, not an overload set). Fix: "
                "give the parameters their types, or wrap the call in a lambda that does");
  if constexpr (task_function<F>) {
    using D = std::decay_t<F>;
    static_assert(std::is_pointer_v<D> || std::is_function_v<D> || std::is_empty_v<D>,
                  "troupe: a task must hold no state (this lambda captures, or this function "
                  "object has members): every process runs its own registered copy, so the "
                  "state would not reach the worker. Fix: pass the state as an argument");
    using traits = task_traits<D>;
    detail::parameters_are_ok(static_cast<typename traits::parameters*>(nullptr));
    static_assert(std::is_void_v<typename traits::result> || wire_value<typename traits::result>,
                  "troupe: a task's result type is not a task value. Fix: return integers, "
                  "floating point, bool, std::string, std::vector<std::byte>, enums, Protobuf "
                  "messages, std containers, pairs or tuples of those, a struct with "
                  "TROUPE_FIELDS(type, fields...), or void");
  }
  return true;
}

/// Every rule of check_task holds (for `if constexpr`: code past a broken rule is not compiled,
/// so the static_assert is the only error).
template <class F>
concept valid_task = task_function<F> && requires {
  requires std::is_pointer_v<std::decay_t<F>> || std::is_function_v<
      std::decay_t<F>> || std::is_empty_v<std::decay_t<F>>;
  requires detail::parameters_valid(
      static_cast<typename task_traits<std::decay_t<F>>::parameters*>(nullptr));
  requires std::is_void_v<typename task_traits<std::decay_t<F>>::result> || wire_value<
      typename task_traits<std::decay_t<F>>::result>;
};

template <class F>
using task_result_of = typename task_traits<std::decay_t<F>>::result;

template <class F>
using task_arguments_of = typename task_traits<std::decay_t<F>>::arguments;

}  // namespace troupe
