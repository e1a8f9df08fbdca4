#include "troupe/nodes/pool/result_limit.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/messages/items.hpp"
#include "troupe/nodes/frame_limit.hpp"

namespace troupe::detail {

void fit_reply(pool::ResultBatch& reply, size_t max_frame_size) {
  auto limit = max_value_size(max_frame_size);
  auto total = reply.ByteSizeLong();
  if (max_frame_size == 0 || total <= limit)
    return;
  std::vector<std::string_view> records;
  bool ok = items::read_records(reply.results(), [&](std::string_view, std::string_view record) {
    records.push_back(record);
    return true;
  });
  if (!ok)
    return;  // not ours to repair: the head refuses a malformed reply
  std::string empty;
  items::append_empty(empty);
  std::vector<size_t> largest(records.size());
  std::iota(largest.begin(), largest.end(), size_t{0});
  std::stable_sort(largest.begin(), largest.end(),
                   [&](size_t a, size_t b) { return records[a].size() > records[b].size(); });
  // A failure's own size: index, flag and tags besides its message.
  constexpr size_t failure_fields = 32;
  std::vector<std::string> why(records.size());
  for (auto k : largest) {
    if (total <= limit || records[k].size() <= empty.size())
      break;
    why[k] = describe_too_large(records[k].size(), max_frame_size, "its result");
    total = total - records[k].size() + empty.size() + why[k].size() + failure_fields;
  }
  std::string results;
  for (size_t k = 0; k < records.size(); ++k)
    results.append(why[k].empty() ? records[k] : std::string_view{empty});
  for (size_t k = 0; k < records.size(); ++k) {
    if (why[k].empty())
      continue;
    auto* failure = reply.add_failures();
    failure->set_index(static_cast<uint32_t>(k));
    failure->set_message(std::move(why[k]));
    failure->set_too_large(true);
  }
  *reply.mutable_results() = std::move(results);
}

}  // namespace troupe::detail
