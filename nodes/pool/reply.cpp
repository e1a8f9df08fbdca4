#include "troupe/nodes/pool/reply.hpp"

#include <string_view>

#include "troupe/messages/items.hpp"

namespace troupe::detail {

std::optional<std::vector<job_result>> split_reply(const pool::ResultBatch& reply,
                                                   const std::vector<job_ptr>& jobs,
                                                   uint32_t total) {
  std::vector<std::string_view> records;  // whole records, to pass on
  std::vector<std::string_view> values;   // their contents, to check
  records.reserve(total);
  values.reserve(total);
  bool ok =
      items::read_records(reply.results(), [&](std::string_view value, std::string_view record) {
        records.push_back(record);
        values.push_back(value);
        return records.size() <= total;
      });
  if (!ok || records.size() != total)
    return std::nullopt;
  std::vector<bool> failed(total, false);
  for (auto& f : reply.failures()) {
    if (f.index() >= total)
      return std::nullopt;
    failed[f.index()] = true;
  }
  // Each record must parse as its task's result (a failed item's record is empty).
  size_t at = 0;
  for (auto& j : jobs)
    for (uint32_t k = 0; k < j->count; ++k, ++at)
      if (!failed[at] && j->check && !j->check(values[at]))
        return std::nullopt;
  // Each submission's records are a contiguous run of the reply.
  std::vector<job_result> out;
  out.reserve(jobs.size());
  size_t offset = 0;
  for (auto& j : jobs) {
    job_result r;
    if (j->count > 0) {
      const auto& last = records[offset + j->count - 1];
      r.results.assign(records[offset].data(), last.data() + last.size());
    }
    for (auto& f : reply.failures())
      if (f.index() >= offset && f.index() < offset + j->count)
        r.failures.push_back(
            {static_cast<uint32_t>(f.index() - offset), f.message(), f.type(), f.too_large()});
    offset += j->count;
    out.push_back(std::move(r));
  }
  return out;
}

std::pair<size_t, uint32_t> locate_item(const std::vector<job_ptr>& jobs, uint32_t index) {
  uint32_t offset = 0;
  for (size_t k = 0; k < jobs.size(); ++k) {
    if (index < offset + jobs[k]->count)
      return {k, index - offset};
    offset += jobs[k]->count;
  }
  return {jobs.size(), 0};
}

}  // namespace troupe::detail
