#include "troupe/nodes/process_pool.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <set>
#include <thread>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "troupe/messages/config.hpp"
#include "troupe/messages/pool.pb.h"
#include "troupe/nodes/connection.hpp"
#include "troupe/nodes/log.hpp"
#include "troupe/nodes/node_protocol.hpp"
#include "troupe/nodes/task_runner.hpp"

namespace troupe {
namespace {

using detail::job_ptr;
using join_atom = caf::atom_constant<caf::atom("join")>;
using close_atom = caf::atom_constant<caf::atom("poolclose")>;
using wait_atom = caf::atom_constant<caf::atom("waitwork")>;
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;

// Merging queued submissions of one task into one batch stops at about this much work, so
// that a merged batch never holds up other workers for long.
constexpr double merge_target_ns = 2'000'000;
constexpr uint32_t merge_max_items = 512;
constexpr size_t merge_max_bytes = 1024 * 1024;
constexpr size_t max_window = 32;

struct worker_slot {
  peer node;
  caf::actor runner;
  size_t in_flight = 0;
  bool exclusive = false;  // runs a suspect batch: nothing else until it returns
};

struct batch {
  std::vector<job_ptr> jobs;
  uint64_t worker = 0;
  std::chrono::steady_clock::time_point sent;
  bool queued = false;  // sent while its worker was busy: its wait says nothing of the wire
};

struct dispatcher_state {
  pool_options opts;
  caf::actor manager;
  std::deque<job_ptr> queue;
  std::map<uint64_t, worker_slot> workers;  // ready workers by peer id
  std::map<uint64_t, peer> own_children;    // worker processes this pool started
  size_t starting = 0;                      // worker processes being started
  std::unordered_map<uint64_t, batch> batches;
  uint64_t next_batch = 1;
  // Measured costs (exponentially weighted): execution time of one item, per task (a map of
  // tiny tasks must not make the next task look tiny), and the round trip around a batch.
  // They size each worker's window of batches in flight and how much merging pays.
  std::unordered_map<std::string, double> item_ns;
  double overhead_ns = 200'000;
  bool closing = false;
  std::vector<caf::response_promise> drained_waiters;
  std::vector<std::pair<size_t, caf::response_promise>> worker_waiters;
  pool_stats stats;
  static inline const char* name = "troupe.process_pool";
};

using dispatcher_actor = caf::stateful_actor<dispatcher_state>;

// Until measured, a task is assumed slow: small windows and little merging keep the balance.
constexpr double unmeasured_item_ns = 200'000;

double item_cost(const dispatcher_state& st, const std::string& task) {
  auto i = st.item_ns.find(task);
  return i == st.item_ns.end() ? unmeasured_item_ns : i->second;
}

size_t window(const dispatcher_state& st, const std::string& task) {
  // Enough batches in flight to cover a round trip. For a task that dwarfs the round trip, one
  // batch queued behind the running one still saves an idle round trip per task (measured: 3%
  // of a mandelbrot render on one worker), which adds up while many tasks wait; near the end
  // of the queue none is queued, so that no worker still holds a waiting batch when another
  // runs dry (a balanced tail).
  double batch_ns = std::max(item_cost(st, task), 1.0);
  if (batch_ns >= 20 * st.overhead_ns)
    return st.queue.size() > 2 * st.workers.size() ? 2 : 1;
  auto n = static_cast<size_t>(std::ceil(st.overhead_ns / batch_ns)) + 1;
  return std::clamp<size_t>(n, 2, max_window);
}

void notify_waiters(dispatcher_actor* self) {
  auto& st = self->state;
  auto& ws = st.worker_waiters;
  for (auto i = ws.begin(); i != ws.end();) {
    if (st.workers.size() >= i->first) {
      i->second.deliver(true);
      i = ws.erase(i);
    } else {
      ++i;
    }
  }
  if (st.closing && st.queue.empty() && st.batches.empty() && st.starting == 0) {
    std::vector<peer> children;
    for (auto& kv : st.own_children)
      children.push_back(kv.second);
    for (auto& rp : st.drained_waiters)
      rp.deliver(children);
    st.drained_waiters.clear();
  }
}

void finish(dispatcher_actor* self, const job_ptr& j, detail::job_result&& r) {
  self->state.stats.tasks_completed += j->count;
  auto done = std::move(j->done);
  j->done = nullptr;
  if (done)
    done(std::move(r));
}

void fail(dispatcher_actor* self, const job_ptr& j, caf::error err) {
  detail::job_result r;
  r.error = std::move(err);
  auto done = std::move(j->done);
  j->done = nullptr;
  if (done)
    done(std::move(r));
}

void dispatch(dispatcher_actor* self);
void worker_lost(dispatcher_actor* self, uint64_t id, const caf::error& reason);

void on_result(dispatcher_actor* self, uint64_t id, pool::ResultBatch& result) {
  auto& st = self->state;
  auto i = st.batches.find(id);
  if (i == st.batches.end()) {
    ++st.stats.late_results_discarded;  // its worker was declared dead; the batch ran again
    return;
  }
  auto b = std::move(i->second);
  st.batches.erase(i);
  auto w = st.workers.find(b.worker);
  size_t total = 0;
  for (auto& j : b.jobs)
    total += j->count;
  if (w != st.workers.end()) {
    --w->second.in_flight;
    w->second.exclusive = false;
    st.stats.items_per_worker[w->second.node.name] += total;
  }
  // Learn the costs: per-item execution time, and what the round trip adds.
  auto elapsed = static_cast<double>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - b.sent)
      .count());
  auto exec = static_cast<double>(result.elapsed_ns());
  auto per_item = exec / std::max<size_t>(total, 1);
  auto [cost, fresh] = st.item_ns.try_emplace(b.jobs.front()->task, per_item);
  if (!fresh)
    cost->second = 0.8 * cost->second + 0.2 * per_item;
  if (!b.queued)
    st.overhead_ns = 0.8 * st.overhead_ns + 0.2 * std::max(elapsed - exec, 0.0);
  // Split the merged results back into the submissions they came from: each submission's
  // records are a contiguous run of the reply.
  std::vector<std::string_view> records;
  records.reserve(total);
  bool ok = items::read_records(result.results(), [&](std::string_view, std::string_view record) {
    records.push_back(record);
    return true;
  });
  if (!ok || records.size() != total) {
    for (auto& j : b.jobs)
      fail(self, j, make_error(errc::corrupt_payload, "malformed results from a worker"));
  } else {
    size_t offset = 0;
    for (auto& j : b.jobs) {
      detail::job_result r;
      if (j->count > 0) {
        const auto& last = records[offset + j->count - 1];
        r.results.assign(records[offset].data(), last.data() + last.size());
      }
      for (auto& f : result.failures())
        if (f.index() >= offset && f.index() < offset + j->count)
          r.failures.push_back({static_cast<uint32_t>(f.index() - offset), f.message()});
      offset += j->count;
      finish(self, j, std::move(r));
    }
  }
  dispatch(self);
  notify_waiters(self);
}

void on_batch_error(dispatcher_actor* self, uint64_t id, const caf::error& err) {
  auto& st = self->state;
  auto i = st.batches.find(id);
  if (i == st.batches.end())
    return;  // already re-dispatched when its worker went down
  if (is(err, errc::node_down)) {
    // Its node is being lost: peer_down re-dispatches the worker's batches, unless it came
    // first, in which case nothing else will.
    if (st.workers.count(i->second.worker) == 0)
      worker_lost(self, i->second.worker, err);
    return;
  }
  if (err == caf::sec::request_receiver_down) {
    // The runner died but its process may live on: stop using it and retire the process.
    auto worker = i->second.worker;
    auto w = self->state.workers.find(worker);
    if (w != self->state.workers.end())
      self->send(self->state.manager, detail::stop_atom::value, worker,
                 caf::timespan{std::chrono::seconds{1}});
    worker_lost(self, worker, err);
    return;
  }
  auto b = std::move(i->second);
  st.batches.erase(i);
  auto w = st.workers.find(b.worker);
  if (w != st.workers.end()) {
    --w->second.in_flight;
    w->second.exclusive = false;
  }
  for (auto& j : b.jobs)
    fail(self, j, err);
  dispatch(self);
  notify_waiters(self);
}

worker_slot* pick_worker(dispatcher_actor* self, const detail::job& next) {
  auto& st = self->state;
  worker_slot* best = nullptr;
  bool alone = next.suspect;
  auto limit = window(st, next.task);
  for (auto& kv : st.workers) {
    auto& w = kv.second;
    if (w.exclusive || (alone ? w.in_flight > 0 : w.in_flight >= limit))
      continue;
    if (!best || w.in_flight < best->in_flight)
      best = &w;
  }
  return best;
}

void send_batch(dispatcher_actor* self, worker_slot& w, std::vector<job_ptr> jobs) {
  auto& st = self->state;
  auto id = st.next_batch++;
  pool::TaskBatch msg;
  msg.set_task(jobs.front()->task);
  msg.set_batch_id(id);
  uint32_t count = 0;
  size_t bytes = 0;
  for (auto& j : jobs)
    bytes += j->args.size();
  msg.mutable_args()->reserve(bytes);
  for (auto& j : jobs) {
    count += j->count;
    msg.mutable_args()->append(j->args);
  }
  msg.set_count(count);
  bool alone = jobs.front()->suspect;
  bool queued = w.in_flight > 0;
  ++w.in_flight;
  w.exclusive = alone;
  st.batches.emplace(id,
                     batch{std::move(jobs), w.node.id, std::chrono::steady_clock::now(), queued});
  self->request(w.runner, caf::infinite, std::move(msg))
    .then([self, id](pool::ResultBatch& result) { on_result(self, id, result); },
          [self, id](caf::error& err) { on_batch_error(self, id, err); });
}

void dispatch(dispatcher_actor* self) {
  auto& st = self->state;
  while (!st.queue.empty()) {
    auto first = st.queue.front();
    auto* w = pick_worker(self, *first);
    if (!w)
      return;
    st.queue.pop_front();
    std::vector<job_ptr> jobs{first};
    if (first->mergeable) {
      // Merge queued submissions of the same task into this batch.
      auto limit = static_cast<uint32_t>(
        std::clamp(merge_target_ns / std::max(item_cost(st, first->task), 1.0), 1.0,
                   double{merge_max_items}));
      uint32_t items = first->count;
      size_t bytes = first->args.size();
      while (!st.queue.empty()) {
        auto& next = st.queue.front();
        if (!next->mergeable || next->task != first->task || items + next->count > limit
            || bytes + next->args.size() > merge_max_bytes)
          break;
        items += next->count;
        bytes += next->args.size();
        jobs.push_back(std::move(next));
        st.queue.pop_front();
      }
    }
    send_batch(self, *w, std::move(jobs));
  }
}

void add_worker(dispatcher_actor* self, const peer& p) {
  auto& st = self->state;
  self->request(p.connection, std::chrono::seconds{30}, detail::spawn_atom::value,
                std::string{task_runner_type}, caf::message{})
    .then(
      [self, p](caf::actor& runner) {
        auto& st = self->state;
        if (st.closing && st.queue.empty() && st.batches.empty())
          return;
        st.workers[p.id] = worker_slot{p, runner, 0, false};
        log::get().debug("pool: worker {} ready ({} in total)", p.name, st.workers.size());
        dispatch(self);
        notify_waiters(self);
      },
      [p](caf::error& err) {
        log::get().warn("pool: cannot use {} as a worker: {}", p.name, describe(err));
      });
  static_cast<void>(st);
}

void start_worker(dispatcher_actor* self, bool replacement) {
  auto& st = self->state;
  ++st.starting;
  self->request(st.manager, std::chrono::seconds{30}, detail::start_worker_atom::value)
    .then(
      [self, replacement](peer& p) {
        auto& st = self->state;
        --st.starting;
        notify_waiters(self);
        st.own_children.emplace(p.id, p);
        if (replacement)
          ++st.stats.respawned;
        add_worker(self, p);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        --st.starting;
        notify_waiters(self);
        log::get().error("pool: cannot start a worker process: {}", describe(err));
        if (!st.closing)
          self->delayed_send(self, std::chrono::seconds{1}, respawn_atom::value);
      });
}

// A worker is gone: everything in flight there runs again. Suspects go first and alone, so
// that a task that keeps killing its worker is identified and stopped.
void worker_lost(dispatcher_actor* self, uint64_t id, const caf::error& reason) {
  auto& st = self->state;
  auto w = st.workers.find(id);
  if (w != st.workers.end()) {
    log::get().warn("pool: lost worker {} ({}); re-dispatching its tasks", w->second.node.name,
                    describe(reason));
    st.workers.erase(w);
    ++st.stats.worker_deaths;
  }
  // Also when the slot is gone already: no batch may stay recorded for a dead worker.
  std::vector<job_ptr> again;
  for (auto i = st.batches.begin(); i != st.batches.end();) {
    if (i->second.worker != id) {
      ++i;
      continue;
    }
    for (auto& j : i->second.jobs) {
      ++j->kills;
      if (j->kills >= st.opts.max_kills) {
        fail(self, j,
             make_error(errc::worker_lost,
                        "task '" + j->task + "' (item " + std::to_string(j->first_index)
                          + (j->count > 1 ? "-" + std::to_string(j->first_index + j->count - 1)
                                          : std::string{})
                          + ") was running on a worker process that died "
                          + std::to_string(j->kills) + " times; giving up"));
      } else {
        j->suspect = true;
        j->mergeable = false;
        st.stats.redispatched += j->count;
        again.push_back(j);
      }
    }
    i = st.batches.erase(i);
  }
  st.queue.insert(st.queue.begin(), again.begin(), again.end());
  dispatch(self);
  notify_waiters(self);
}

void on_peer_down(dispatcher_actor* self, const peer_down& down) {
  auto& st = self->state;
  worker_lost(self, down.peer.id, down.reason);
  if (st.own_children.erase(down.peer.id) > 0 && st.opts.respawn && !st.closing)
    start_worker(self, true);
}

caf::behavior dispatcher(dispatcher_actor* self, caf::actor manager, pool_options opts) {
  auto& st = self->state;
  st.manager = std::move(manager);
  st.opts = opts;
  for (size_t i = 0; i < opts.workers; ++i)
    start_worker(self, false);
  self->send(st.manager, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
  return {
    [self](submit_atom, std::vector<job_ptr>& jobs) {
      auto& st = self->state;
      if (st.closing) {
        for (auto& j : jobs)
          fail(self, j, make_error(errc::pool_closed, "the pool is closed"));
        return;
      }
      for (auto& j : jobs)
        st.queue.push_back(std::move(j));
      dispatch(self);
    },
    [self](const peer_up& up) {
      auto& st = self->state;
      // Our own children arrive through start_worker; others are nodes that joined over TCP.
      if (up.peer.child || !st.opts.use_joined_workers || st.closing)
        return;
      if (st.workers.count(up.peer.id) == 0)
        add_worker(self, up.peer);
    },
    [self](const peer_down& down) { on_peer_down(self, down); },
    [self](respawn_atom) {
      if (!self->state.closing)
        start_worker(self, true);
    },
    [self](wait_atom, size_t n) -> caf::result<bool> {
      auto rp = self->make_response_promise<bool>();
      self->state.worker_waiters.emplace_back(n, rp);
      notify_waiters(self);
      return rp;
    },
    [self](close_atom) { self->state.closing = true; notify_waiters(self); },
    [self](join_atom) -> caf::result<std::vector<peer>> {
      auto& st = self->state;
      st.closing = true;
      // Answered with the worker processes to stop once nothing is queued or in flight.
      auto rp = self->make_response_promise<std::vector<peer>>();
      st.drained_waiters.push_back(rp);
      notify_waiters(self);
      return rp;
    },
    [self](stats_atom) {
      auto stats = self->state.stats;
      stats.workers = self->state.workers.size();
      return stats;
    },
  };
}

}  // namespace
}  // namespace troupe

namespace troupe {

size_t pool_options::default_workers() {
  return std::max(1u, std::thread::hardware_concurrency());
}

process_pool::process_pool(node& n, pool_options opts) : node_(n), opts_(opts) {
  dispatcher_ = n.system().spawn(dispatcher, n.manager(), opts_);
}

process_pool::~process_pool() {
  if (!joined_)
    join();
}

bool process_pool::wait_for_workers(size_t n, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{node_.system()};
  bool ready = false;
  self->request(dispatcher_, timeout, wait_atom::value, n)
    .receive([&](bool) { ready = true; }, [](caf::error&) {});
  return ready;
}

void process_pool::submit(std::vector<detail::job_ptr> jobs) {
  caf::anon_send(dispatcher_, submit_atom::value, std::move(jobs));
}

void process_pool::close() {
  caf::anon_send(dispatcher_, close_atom::value);
}

void process_pool::join() {
  if (joined_)
    return;
  joined_ = true;
  caf::scoped_actor self{node_.system()};
  std::vector<peer> children;
  self->request(dispatcher_, caf::infinite, join_atom::value)
    .receive([&](std::vector<peer>& ps) { children = std::move(ps); }, [](caf::error&) {});
  caf::anon_send_exit(dispatcher_, caf::exit_reason::user_shutdown);
  // Stop our worker processes: each says goodbye and exits 0.
  for (auto& p : children)
    node_.stop_worker(p, std::chrono::seconds{5});
}

pool_stats process_pool::stats() const {
  caf::scoped_actor self{node_.system()};
  pool_stats result;
  self->request(dispatcher_, std::chrono::seconds{10}, stats_atom::value)
    .receive([&](pool_stats& s) { result = std::move(s); }, [](caf::error&) {});
  return result;
}

std::string process_pool::task_name(const void* function) const {
  const auto* cfg = dynamic_cast<const config*>(&node_.system().config());
  const auto* entry = cfg ? cfg->tasks().find_function(function) : nullptr;
  if (!entry)
    throw std::invalid_argument("this function is not a registered task: add it with "
                                "cfg.tasks().add(name, function) in the program's setup");
  return entry->name;
}

void process_pool::check_types_impl(const std::string& task, const std::type_info& arg,
                                    const std::type_info& result) const {
  const auto* cfg = dynamic_cast<const config*>(&node_.system().config());
  const auto* entry = cfg ? cfg->tasks().find(task) : nullptr;
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
