#include "troupe/nodes/frame_limit.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include "troupe/messages/errc.hpp"
#include "troupe/messages/error.hpp"

namespace troupe::detail {
namespace {

struct registry {
  std::mutex mtx;
  std::multimap<const caf::actor_system*, size_t> limits;  // one entry per node
};

registry& limits() {
  static registry r;
  return r;
}

}  // namespace

void register_frame_limit(const caf::actor_system& sys, size_t max_frame_size) {
  auto& r = limits();
  std::lock_guard<std::mutex> guard{r.mtx};
  r.limits.emplace(&sys, max_frame_size);
}

void unregister_frame_limit(const caf::actor_system& sys, size_t max_frame_size) {
  auto& r = limits();
  std::lock_guard<std::mutex> guard{r.mtx};
  auto [first, last] = r.limits.equal_range(&sys);
  auto i = std::find_if(first, last, [&](const auto& kv) { return kv.second == max_frame_size; });
  if (i != last)
    r.limits.erase(i);
}

size_t frame_limit(const caf::actor_system& sys) {
  auto& r = limits();
  std::lock_guard<std::mutex> guard{r.mtx};
  size_t smallest = 0;
  auto [first, last] = r.limits.equal_range(&sys);
  for (auto i = first; i != last; ++i)
    smallest = smallest == 0 ? i->second : std::min(smallest, i->second);
  return smallest;
}

std::string describe_too_large(size_t bytes, size_t max_frame_size, const std::string& what) {
  return what + " (" + std::to_string(bytes)
         + " bytes encoded) cannot cross to another process: a frame carries at most "
         + std::to_string(max_value_size(max_frame_size)) + " bytes of values (max_frame_size "
         + std::to_string(max_frame_size) + " less " + std::to_string(frame_allowance)
         + " for the frame itself; set it with node_options::max_frame_size or --max-frame-size)";
}

caf::error check_value_size(size_t bytes, size_t max_frame_size, const std::string& what) {
  if (max_frame_size == 0 || bytes <= max_value_size(max_frame_size))
    return {};
  return make_error(errc::message_too_large, describe_too_large(bytes, max_frame_size, what));
}

}  // namespace troupe::detail
