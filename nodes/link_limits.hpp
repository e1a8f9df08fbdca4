// What all the links of one node may hold together (internal): how many connections are open,
// and how many bytes of frames not yet complete they buffer. Shared by the node's connections
// and its listeners, on any thread; docs/protocol.md ("Limits") describes the rules.
//
// Per link, a peer can hold at most one frame under max_frame_size; without a node-wide bound,
// many established peers each trickling a large frame hold that much memory each.
#pragma once

#include <atomic>
#include <cstddef>

namespace troupe::detail {

class link_limits {
public:
  link_limits(size_t max_connections, size_t partial_frame_budget)
      : max_connections_(max_connections), partial_frame_budget_(partial_frame_budget) {}

  size_t max_connections() const noexcept {
    return max_connections_;
  }
  size_t partial_frame_budget() const noexcept {
    return partial_frame_budget_;
  }
  size_t open_connections() const noexcept {
    return open_.load();
  }

  /// Takes a connection slot if one is free (a connection a peer opened: refused when full).
  bool try_open() noexcept {
    auto n = open_.load();
    while (n < max_connections_)
      if (open_.compare_exchange_weak(n, n + 1))
        return true;
    return false;
  }

  /// Takes a slot regardless (a connection this node made: a child, a join).
  void open() noexcept {
    ++open_;
  }

  void closed() noexcept {
    --open_;
  }

  /// Moves one link's share of the partial-frame budget from `held` to `wanted` bytes. False,
  /// leaving `held` as it was, when the node's links together would then exceed the budget.
  bool hold_partial(size_t& held, size_t wanted) noexcept {
    if (wanted <= held) {
      partial_ -= held - wanted;
      held = wanted;
      return true;
    }
    auto more = wanted - held;
    if (partial_.fetch_add(more) + more > partial_frame_budget_) {
      partial_ -= more;
      return false;
    }
    held = wanted;
    return true;
  }

private:
  const size_t max_connections_;
  const size_t partial_frame_budget_;
  std::atomic<size_t> open_{0};
  std::atomic<size_t> partial_{0};
};

}  // namespace troupe::detail
