// Fitting a worker's reply into one frame to the head (internal; no CAF, unit-tested): a
// result too large to send fails as its own item, so that the batch's other results still
// reach the head and the worker is not taken for lost (its reply would be refused whole).
#pragma once

#include <cstddef>

#include "troupe/messages/pool.pb.h"

namespace troupe::detail {

/// Fails the items with the largest results (TaskFailure.too_large, their records emptied)
/// until `reply` fits a frame under `max_frame_size`; 0: no limit. A reply that fits, the
/// usual case, costs one size computation and is left as it is.
void fit_reply(pool::ResultBatch& reply, size_t max_frame_size);

}  // namespace troupe::detail
