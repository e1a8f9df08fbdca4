// troupe: everything a program uses, in one include.
//
//   #include "troupe/troupe.hpp"
//
// Actors and the thread pool (actors/), messages and task values (messages/), nodes, the process
// pool, processes, queues and pipes between them, and troupe::run (nodes/). Each header can
// also be included on its own.
#pragma once

#include "troupe/actors/flow.hpp"
#include "troupe/actors/future.hpp"
#include "troupe/actors/join.hpp"
#include "troupe/actors/thread_pool.hpp"
#include "troupe/messages/config.hpp"
#include "troupe/messages/error.hpp"
#include "troupe/nodes/flags.hpp"
#include "troupe/nodes/ipc/pipe.hpp"
#include "troupe/nodes/ipc/process.hpp"
#include "troupe/nodes/ipc/queue.hpp"
#include "troupe/nodes/node.hpp"
#include "troupe/nodes/pool/process_pool.hpp"
#include "troupe/nodes/run.hpp"
