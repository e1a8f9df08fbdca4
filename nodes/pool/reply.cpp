#include "troupe/nodes/pool/reply.hpp"

#include <algorithm>
#include <string_view>

#include "troupe/messages/items.hpp"

namespace troupe::detail {

std::optional<std::vector<job_result>> split_reply(pool::ResultBatch& reply,
                                                   const std::vector<job_ptr>& jobs,
                                                   uint32_t total) {
  std::vector<bool> failed(total, false);
  for (auto& f : reply.failures()) {
    if (f.index() >= total)
      return std::nullopt;
    failed[f.index()] = true;
  }
  // One pass over the records, holding nothing per record (a map's batch holds hundreds of
  // thousands): each must parse as its job's result (a failed item's record is empty), and
  // each job's records are a contiguous run of the reply, which ends[k] marks.
  const std::string& all = reply.results();
  std::vector<size_t> ends(jobs.size(), 0);
  uint32_t at = 0;
  size_t k = 0;
  uint32_t first_of_job = 0;  // the index in the batch of job k's first record
  bool ok = items::read_records(all, [&](std::string_view value, std::string_view record) {
    if (at >= total)
      return false;
    while (k < jobs.size() && at >= first_of_job + jobs[k]->count) {
      first_of_job += jobs[k]->count;
      if (++k < jobs.size())
        ends[k] = ends[k - 1];
    }
    if (k == jobs.size() || (!failed[at] && jobs[k]->check && !jobs[k]->check(value)))
      return false;
    ends[k] = static_cast<size_t>(record.data() + record.size() - all.data());
    ++at;
    return true;
  });
  if (!ok || at != total)
    return std::nullopt;
  std::vector<job_result> out(jobs.size());
  if (jobs.size() == 1) {
    out[0].results = std::move(*reply.mutable_results());  // a map's chunk: no copy
  } else {
    size_t begin = 0;
    for (size_t j = 0; j < jobs.size(); ++j) {
      auto end = std::max(ends[j], begin);  // a job of no items ends where it began
      out[j].results.assign(all, begin, end - begin);
      begin = end;
    }
  }
  uint32_t offset = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    for (auto& f : reply.failures())
      if (f.index() >= offset && f.index() < offset + jobs[j]->count)
        out[j].failures.push_back(
            {static_cast<uint32_t>(f.index() - offset), f.message(), f.type(), f.too_large()});
    offset += jobs[j]->count;
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
