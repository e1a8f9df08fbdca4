// The process pool's dispatcher (internal): one actor per pool that owns its queue, its worker
// processes and every batch in flight. process_pool's member functions are thin clients of it.
//
// Its message protocol, all of it (local messages: nothing here crosses the wire):
//
//   from the pool (process_pool.cpp)
//   (submit_atom, vector<job_ptr>)            queue them; each job's `done` is called exactly
//                                             once, on the dispatcher's thread
//   (wait_workers_atom, size_t n)     -> bool once n workers are ready; error
//                                             worker_start_failed if they cannot start
//   (stop_accepting_atom)                     later submissions fail with pool_closed
//                                             (Python's Pool.close)
//   (drain_atom)              -> vector<peer> stops accepting too; answered once nothing is
//                                             queued or in flight, with the worker processes
//                                             the pool started (the pool then stops them)
//   (cancel_queued_atom)                      every submission no worker has taken yet fails
//                                             with errc::cancelled (shutdown's cancel_futures)
//   (terminate_atom)          -> vector<peer> fails everything pending with errc::terminated
//   (stats_atom)              -> pool_stats
//
//   from the dashboard's HTTP thread (nodes/observe/cluster.cpp)
//   (observe_pool_atom)       -> observe::pool_view   queue, batches, workers, latest errors
//
//   from the node's manager (subscribed at start)
//   peer_up, peer_down                        nodes that joined or left
//
//   to itself
//   (respawn_atom)                            start a worker again after a start-up failure
//   (pool_tick_atom)                          look at deadlines, probes, idle workers, waits
//
//   with each worker's task runner (nodes/pool/task_runner.hpp; messages/pool.proto)
//   TaskBatch -> ResultBatch, RevokeBatch (one way), BatchProbe -> BatchProbe
//
// Everything else sent to it (a worker knows its address) is dropped and logged.
#pragma once

#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include "troupe/actors/atoms.hpp"
#include "troupe/nodes/observe/views.hpp"
#include "troupe/nodes/pool/detail/job.hpp"
#include "troupe/nodes/pool/process_pool.hpp"

namespace troupe::detail {

using wait_workers_atom = caf::atom_constant<caf::atom("waitwork")>;
using stop_accepting_atom = caf::atom_constant<caf::atom("stopaccept")>;
using drain_atom = caf::atom_constant<caf::atom("pooldrain")>;
using cancel_queued_atom = caf::atom_constant<caf::atom("cancelq")>;
using terminate_atom = caf::atom_constant<caf::atom("terminate")>;
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
using pool_tick_atom = caf::atom_constant<caf::atom("pooltick")>;
using observe_pool_atom = caf::atom_constant<caf::atom("observepl")>;

/// Spawns a pool's dispatcher; `manager` is the node's manager actor, `max_frame_size` the
/// node's frame limit (arguments over it fail their job before they are sent).
caf::actor spawn_dispatcher(caf::actor_system& sys, caf::actor manager, pool_options opts,
                            size_t max_frame_size);

}  // namespace troupe::detail

// Local messages only: jobs and statistics never leave the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<troupe::detail::job_ptr>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::pool_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::observe::pool_view)
