// The head's side of a task call (not API; the process pool's verbs use it): a call's argument
// record, and a result record read back. The worker's side is task_registry.hpp.
//
//   append_call<F>(items, args...)   one Items record: the arguments as fields 1..N, each first
//                                    converted to its parameter's type as a C++ call would where
//                                    that is safe (an int for an int64_t parameter, a const char*
//                                    for a std::string), never by narrowing
//   result_parses<R>(record)         whether a worker's result record holds an R
//   decode_result<R>(record)         that R; throws if the record does not parse
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "troupe/messages/codec.hpp"
#include "troupe/messages/errc.hpp"
#include "troupe/messages/error.hpp"
#include "troupe/messages/exceptions.hpp"
#include "troupe/messages/items.hpp"
#include "troupe/messages/task_traits.hpp"

namespace troupe::detail {

template <class T>
struct is_tuple_like : std::false_type {};
template <class... T>
struct is_tuple_like<std::tuple<T...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class P, class A>
constexpr bool converts_safely();

template <class P, class A, size_t... I>
constexpr bool elements_convert_safely(std::index_sequence<I...>) {
  return (converts_safely<std::tuple_element_t<I, P>, std::tuple_element_t<I, A>>() && ...);
}

/// Whether an argument of type A may be passed for a parameter of type P (decayed): the same
/// type; a number or enum that converts without narrowing; a class type that converts
/// implicitly; tuples, pairs and optionals element by element (their own converting
/// constructors would narrow silently).
template <class P, class A>
constexpr bool converts_safely() {
  using D = std::remove_cvref_t<A>;
  if constexpr (std::is_same_v<D, P>) {
    return true;
  } else if constexpr (std::is_arithmetic_v<P> || std::is_enum_v<P>) {
    return (std::is_arithmetic_v<D> || std::is_enum_v<D>)&&requires {
      P{std::declval<A>()};
    };
  } else if constexpr (is_tuple_like<P>::value && is_tuple_like<D>::value) {
    if constexpr (std::tuple_size_v<P> != std::tuple_size_v<D>)
      return false;
    else
      return elements_convert_safely<P, D>(std::make_index_sequence<std::tuple_size_v<P>>{});
  } else if constexpr (is_optional<P>::value && is_optional<D>::value) {
    return converts_safely<typename P::value_type, typename D::value_type>();
  } else {
    return std::is_convertible_v<A, P>;
  }
}

/// `arg` as a P: itself when it is one (no copy), else converted.
template <class P, class A>
decltype(auto) as_parameter(A&& arg) {
  if constexpr (std::is_same_v<std::remove_cvref_t<A>, P>)
    return static_cast<const P&>(arg);
  else
    return P(std::forward<A>(arg));
}

template <class Params, class... Args, size_t... I>
void append_arguments(std::string& out, std::index_sequence<I...>, Args&&... args) {
  static_assert(
      (converts_safely<std::tuple_element_t<I, Params>, Args>() && ...),
      "troupe: an argument does not convert to its task parameter's type, or only by narrowing "
      "(an int64_t for an int parameter, a std::vector<int> for a std::vector<int64_t>). Fix: "
      "pass a value of the parameter's type");
  if constexpr (!(converts_safely<std::tuple_element_t<I, Params>, Args>() && ...)) {
    return;
  } else if constexpr (items::few_numbers<std::tuple_element_t<I, Params>...>) {
    // The calls of tiny tasks (pool_map_tiny): one append of a record built on the stack.
    items::append_numbers(
        out, as_parameter<std::tuple_element_t<I, Params>>(std::forward<Args>(args))...);
  } else {
    items::append_with(out, [&](std::string& body) {
      encode_fields(body,
                    as_parameter<std::tuple_element_t<I, Params>>(std::forward<Args>(args))...);
    });
  }
}

/// Appends the Items record of the call fn(args...) for the task type F.
template <class F, class... Args>
void append_call(std::string& out, Args&&... args) {
  static_assert(check_task<F>());
  if constexpr (valid_task<F>) {
    using params = task_arguments_of<F>;
    static_assert(sizeof...(Args) == std::tuple_size_v<params>,
                  "troupe: the call passes another number of arguments than the task has "
                  "parameters. Fix: pass one argument per parameter");
    if constexpr (sizeof...(Args) == std::tuple_size_v<params>)
      append_arguments<params>(out, std::make_index_sequence<sizeof...(Args)>{},
                               std::forward<Args>(args)...);
  }
}

/// Whether a worker's result record holds an R (void: any well-formed record).
template <class R>
bool result_parses(std::string_view record) {
  if constexpr (std::is_void_v<R>) {
    std::tuple<> none;
    return decode_fields(record, none);
  } else {
    R value{};
    return decode(record, value);
  }
}

/// Thrown out of line: the hot path of decode_result stays small enough to inline.
[[noreturn, gnu::noinline, gnu::cold]] inline void throw_result_does_not_parse(
    const std::type_info& type) {
  throw_error(
      make_error(errc::corrupt_payload, "the task's result does not parse as " + type_name(type)));
}

/// The R in a result record; throws troupe::task_error (errc::corrupt_payload) if the record
/// does not parse as one.
template <class R>
R decode_result(std::string_view record) {
  if constexpr (std::is_void_v<R>) {
    if (!result_parses<void>(record))
      throw_result_does_not_parse(typeid(void));
  } else {
    R value{};
    if (!decode(record, value)) [[unlikely]]
      throw_result_does_not_parse(typeid(R));
    return value;
  }
}

}  // namespace troupe::detail
