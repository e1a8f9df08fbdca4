// Gathers what the dashboard shows (views.hpp) from the observatory and from every running
// pool's dispatcher. Called on the dashboard's HTTP thread, never from an actor: it waits up to
// `pool_timeout` for each pool's answer (a pool that does not answer in time is left out).
#pragma once

#include <chrono>
#include <string>

#include <caf/fwd.hpp>

#include "troupe/nodes/observe/views.hpp"

namespace troupe::observe {

cluster_view collect(caf::actor_system& sys, const std::string& head_name,
                     std::chrono::milliseconds pool_timeout = std::chrono::seconds{1});

}  // namespace troupe::observe
