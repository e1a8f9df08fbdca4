// How the pool encodes a call of a task and decodes its result (not API). One place, so that
// the pool's verbs do not depend on the codec's spelling: today items.hpp's one-argument codec.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "troupe/actors/future.hpp"
#include "troupe/messages/errc.hpp"
#include "troupe/messages/items.hpp"
#include "troupe/messages/task_registry.hpp"

namespace troupe::detail::pool_codec {

template <class F>
using result_t = task_result_t<F>;

/// Appends the record of one call fn(args...).
template <class F, class... Args>
void append_call(std::string& out, const Args&... args) {
  static_assert(sizeof...(Args) == 1,
                "a process-pool task takes exactly one argument with this version of troupe");
  items::append(out, task_argument_t<F>(args...));
}

/// Whether one result record parses as an R (a worker's reply is checked before use).
template <class R>
bool result_parses(std::string_view record) {
  if constexpr (std::is_void<R>::value) {
    return true;
  } else {
    R value{};
    return items::codec<R>::parse(record, value);
  }
}

/// The R in a result record; throws task_error (corrupt_payload) if it does not parse.
template <class R>
R decode_result(std::string_view record) {
  if constexpr (std::is_void<R>::value) {
    return;
  } else {
    R value{};
    if (!items::codec<R>::parse(record, value))
      throw task_error{make_error(errc::corrupt_payload, "task result does not parse")};
    return value;
  }
}

}  // namespace troupe::detail::pool_codec
