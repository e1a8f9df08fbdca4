// troupe::shutdown_options: how an executor (thread_pool, process_pool) shuts down, Python's
// Executor.shutdown(wait=True, cancel_futures=False) with named fields:
//
//   pool.shutdown();                                          // wait for every task
//   pool.shutdown({.wait = false});                           // return at once; tasks still run
//   pool.shutdown({.wait = true, .cancel_futures = true});    // drop queued tasks, wait for the
//   rest
#pragma once

namespace troupe {

struct shutdown_options {
  /// Block until every task that was accepted has completed its future.
  bool wait = true;
  /// Tasks that have not started are cancelled (their futures fail with errc::cancelled and
  /// report cancelled()) instead of running; tasks already running finish.
  bool cancel_futures = false;
};

}  // namespace troupe
