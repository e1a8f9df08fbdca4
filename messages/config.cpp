#include "troupe/messages/config.hpp"

#include <caf/io/middleman.hpp>

#include "troupe/messages/flow.pb.h"
#include "troupe/messages/pool.pb.h"
#include "troupe/messages/wire.pb.h"

namespace troupe {

config::config() {
  load<caf::io::middleman>();
  add_error_category(error_category, [](uint8_t code, caf::atom_value category,
                                        const caf::message& context) {
    return describe(caf::error{code, category, context});
  });
  add_messages<flow::Offer, flow::Demand, flow::Flush, flow::EndOfStream, pool::TaskBatch, pool::ResultBatch,
               wire::Error>();
}

}  // namespace troupe
