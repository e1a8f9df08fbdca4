// process_pool's member functions: thin clients of its dispatcher (nodes/pool/dispatcher.hpp).
#include "troupe/nodes/pool/process_pool.hpp"

#include <thread>

#include <caf/scoped_actor.hpp>

#include "troupe/messages/config.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/node_protocol.hpp"
#include "troupe/nodes/pool/callback_thread.hpp"
#include "troupe/nodes/pool/dispatcher.hpp"

namespace troupe {

size_t pool_options::default_workers() {
  return std::max(1u, std::thread::hardware_concurrency());
}

process_pool::process_pool(node& n, pool_options opts) : node_(n), opts_(opts) {
  if (opts_.workers == 0 && (!opts_.use_joined_workers || n.endpoints().empty()))
    throw std::invalid_argument(
        "a process pool with no worker processes (workers = 0) needs worker nodes, but this node "
        "does not listen for them: start worker processes (--workers N) or listen for worker "
        "nodes (--listen ADDR:PORT, then run the program with --join ADDR:PORT)");
  callbacks_ = detail::callback_thread::start();
  dispatcher_ = detail::spawn_dispatcher(n.system(), detail::node_access::manager(n), opts_,
                                         n.options().max_frame_size);
}

process_pool::~process_pool() {
  if (!joined_)
    join();
  callbacks_->stop();
}

detail::callback_executor process_pool::callback_executor() const {
  return callbacks_->executor();
}

bool process_pool::wait_for_workers(size_t n, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{node_.system()};
  bool ready = false;
  self->request(dispatcher_, timeout, detail::wait_workers_atom::value, n)
      .receive([&](bool) { ready = true; },
               [](caf::error& err) {
                 if (err != caf::sec::request_timeout)
                   throw task_error{err};
               });
  return ready;
}

void process_pool::submit(std::vector<detail::job_ptr> jobs) {
  if (joined_) {
    for (auto& j : jobs)
      if (auto done = std::move(j->done))
        done(detail::job_result{{}, {}, make_error(errc::pool_closed, "the pool is closed")});
    return;
  }
  caf::anon_send(dispatcher_, submit_atom::value, std::move(jobs));
}

// The last statistics, kept for stats() once the dispatcher is gone.
void process_pool::keep_final_stats() {
  final_stats_ = stats();
  final_stats_.workers = 0;
}

void process_pool::close() {
  caf::anon_send(dispatcher_, detail::stop_accepting_atom::value);
}

void process_pool::shutdown(shutdown_options how) {
  if (joined_)
    return;
  // Both from this thread, so the dispatcher sees them in this order: nothing submitted before
  // shutdown escapes the cancellation, nothing after it is accepted.
  if (how.cancel_futures)
    caf::anon_send(dispatcher_, detail::cancel_queued_atom::value);
  close();
  if (how.wait)
    join();
}

void process_pool::join() {
  join_within(std::nullopt);
}

bool process_pool::join(std::chrono::milliseconds timeout) {
  return join_within(timeout);
}

bool process_pool::join_within(std::optional<std::chrono::milliseconds> timeout) {
  if (joined_)
    return true;
  caf::scoped_actor self{node_.system()};
  std::optional<std::vector<peer>> children;
  if (timeout && detail::is_unbounded(*timeout))
    timeout.reset();
  auto request = timeout ? self->request(dispatcher_, *timeout, detail::drain_atom::value)
                         : self->request(dispatcher_, caf::infinite, detail::drain_atom::value);
  std::move(request).receive([&](std::vector<peer>& ps) { children = std::move(ps); },
                             [](caf::error& err) {
                               if (err != caf::sec::request_timeout)
                                 log::get().error("pool: join failed: {}", describe(err));
                             });
  if (!children)
    return false;
  keep_final_stats();
  joined_ = true;
  caf::anon_send_exit(dispatcher_, caf::exit_reason::user_shutdown);
  // Stop our worker processes: each says goodbye and exits 0.
  stop_children(*children, std::chrono::seconds{5});
  return true;
}

void process_pool::terminate() {
  if (joined_)
    return;
  caf::scoped_actor self{node_.system()};
  std::vector<peer> children;
  self->request(dispatcher_, std::chrono::seconds{10}, detail::terminate_atom::value)
      .receive([&](std::vector<peer>& ps) { children = std::move(ps); },
               [](caf::error& err) { log::get().error("pool: terminate: {}", describe(err)); });
  keep_final_stats();
  joined_ = true;
  caf::anon_send_exit(dispatcher_, caf::exit_reason::user_shutdown);
  stop_children(children, std::chrono::milliseconds{0});
}

// Asks all of them at once (each exits in parallel), then collects every answer, bounded.
void process_pool::stop_children(const std::vector<peer>& children,
                                 std::chrono::milliseconds grace) {
  caf::scoped_actor self{node_.system()};
  auto bound = grace + std::chrono::seconds{5};
  for (auto& p : children)
    self->send(detail::node_access::manager(node_), detail::stop_atom::value, p.id,
               std::chrono::duration_cast<caf::timespan>(grace));
  for (size_t i = 0; i < children.size(); ++i) {
    bool more = true;
    self->receive(
        [](int) {},
        [](caf::error& err) { log::get().warn("pool: stopping a worker: {}", describe(err)); },
        caf::after(bound) >>
            [&] {
              log::get().warn("pool: worker processes did not stop within {} ms", bound.count());
              more = false;
            });
    if (!more)
      break;
  }
}

pool_stats process_pool::stats() const {
  if (joined_)
    return final_stats_;
  caf::scoped_actor self{node_.system()};
  pool_stats result;
  self->request(dispatcher_, std::chrono::seconds{10}, stats_atom::value)
      .receive([&](pool_stats& s) { result = std::move(s); },
               [](caf::error& err) { log::get().warn("pool: stats: {}", describe(err)); });
  return result;
}

const task_registry& process_pool::tasks() const {
  const auto* cfg = dynamic_cast<const config*>(&node_.system().config());
  if (!cfg)
    throw std::logic_error(
        "the node's actor system was not configured with a troupe::config: it knows no tasks");
  return cfg->tasks();
}

void process_pool::check_types_impl(const std::string& task, const std::type_info& arg,
                                    const std::type_info& result) const {
  const auto* entry = tasks().find(task);
  if (!entry)
    throw std::invalid_argument("no task named '" + task + "' is registered");
  if (entry->argument != std::type_index{arg} || entry->result != std::type_index{result})
    throw std::invalid_argument("task '" + task + "' is called with other argument or result "
                                "types than it was registered with");
}

size_t process_pool::auto_chunksize(size_t items) const {
  // Python's rule: about four chunks per worker.
  auto workers = std::max<size_t>(1, opts_.workers);
  auto chunks = workers * 4;
  return std::max<size_t>(1, (items + chunks - 1) / chunks);
}

}  // namespace troupe
