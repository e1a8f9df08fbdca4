// observatory: where the numbers the dashboard shows are collected (internal). The node manager
// reports nodes joining and leaving, each broker counts its link's bytes and frames
// (link_counters), each pool's dispatcher registers itself, log::rejected counts rejections.
// The dashboard's HTTP thread only reads.
//
// It exists only once the dashboard is on: active() is null until enable(), and every
// reporter checks it first, so a program without --dashboard pays one load of a pointer where
// a link opens or a pool starts, and nothing on a message's path.
//
// Thread-safe: every member may be called from any thread. Once enabled it lives until the
// process ends (brokers and pools may outlive whoever enabled it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/weak_intrusive_ptr.hpp>

#include "troupe/nodes/observe/link_counters.hpp"
#include "troupe/nodes/observe/views.hpp"

namespace troupe::observe {

class observatory {
public:
  /// The observatory, or null while no dashboard runs in this process.
  static observatory* active() noexcept {
    return instance_.load(std::memory_order_acquire);
  }

  /// Turns the observatory on (idempotent) and returns it.
  static observatory& enable();

  // -- reporters --

  /// A link finished its handshake (the broker): the counters it should keep.
  std::shared_ptr<link_counters> link_opened(uint64_t id);
  /// The node manager: a peer joined / its link closed.
  void node_up(uint64_t id, std::string name, uint32_t pid, bool child, std::string address);
  void node_down(uint64_t id, std::string reason);
  /// A pool's dispatcher started; returns the pool's number. pool_ended when it terminates.
  uint64_t pool_started(const caf::actor& dispatcher);
  void pool_ended(uint64_t id);
  void rejected(std::string_view what);

  // -- the dashboard's readers --

  std::vector<node_view> nodes() const;
  /// The dispatchers of pools still running, by pool number.
  std::vector<std::pair<uint64_t, caf::actor>> pools() const;
  std::map<std::string, uint64_t> rejections() const;
  std::chrono::steady_clock::time_point started() const {
    return started_;
  }

  /// Departed nodes kept for the dashboard (a killed worker shows as down for a while).
  static constexpr size_t departed_kept = 64;

private:
  observatory() = default;

  struct node_entry {
    node_view view;
    std::shared_ptr<link_counters> counters;
  };

  static std::atomic<observatory*> instance_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  mutable std::mutex mtx_;
  std::map<uint64_t, node_entry> nodes_;  // by connection id (ids only grow)
  std::map<uint64_t, caf::weak_actor_ptr> pools_;
  uint64_t next_pool_ = 1;
  std::map<std::string, uint64_t, std::less<>> rejections_;
};

}  // namespace troupe::observe
