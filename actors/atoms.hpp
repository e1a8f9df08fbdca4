// Atoms for troupe's local (never serialized) control messages.
#pragma once

#include <caf/atom.hpp>

namespace troupe {

using submit_atom = caf::atom_constant<caf::atom("submit")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using produce_atom = caf::atom_constant<caf::atom("produce")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

}  // namespace troupe
