// A worker's reply to a batch, checked and cut back into the submissions the batch merged
// (internal). Everything from a worker is checked before it is used: a record count that does
// not match, a failure index out of range, or a record that does not parse as its task's
// result makes the whole reply malformed. No CAF here (unit-tested on its own).
#pragma once

#include <optional>
#include <vector>

#include "troupe/messages/pool.pb.h"
#include "troupe/nodes/pool/detail/job.hpp"

namespace troupe::detail {

/// One job_result per job, in order, if the reply holds exactly `total` well-formed records
/// (the jobs' counts summed); nothing if it is malformed. The results of a one-job reply are
/// moved out of it.
std::optional<std::vector<job_result>> split_reply(pool::ResultBatch& reply,
                                                   const std::vector<job_ptr>& jobs,
                                                   uint32_t total);

/// Which job holds item `index` of a batch, and the item's index within that job.
std::pair<size_t, uint32_t> locate_item(const std::vector<job_ptr>& jobs, uint32_t index);

}  // namespace troupe::detail
