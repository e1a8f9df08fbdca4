#include "troupe/nodes/observe/dashboard_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include <httplib.h>

#include "troupe/nodes/observe/cluster.hpp"
#include "troupe/nodes/observe/json.hpp"
#include "troupe/nodes/observe/metrics.hpp"
#include "troupe/nodes/observe/observatory.hpp"
#include "troupe/nodes/observe/page.hpp"

namespace troupe::observe {
namespace {

// A handful of threads serve every connection: the page polls once a second and Prometheus
// scrapes every few seconds, so more would only be more for idle clients to hold.
constexpr size_t serving_threads = 4;
// Accepted connections waiting for a thread. Beyond this the accepting thread waits, and further
// clients wait in the kernel's backlog: a flood of connections costs the head a bounded number
// of descriptors and bytes, never the descriptors its workers need.
constexpr size_t max_waiting_connections = 64;
// An idle client holds a thread this long; one that trickles bytes can hold it for as long as
// it trickles (cpp-httplib times each read, not the request).
constexpr time_t read_timeout_s = 3;
constexpr time_t keep_alive_timeout_s = 2;
// How long the head's exit waits for connections being served (trickling clients may never end).
constexpr auto serving_grace = std::chrono::seconds{5};

// The threads and waiting connections of one server, shared with the threads themselves: a
// thread still held by a client at exit is left behind with its own reference.
struct connection_queue {
  std::mutex mtx;
  std::condition_variable work;   // a connection waits, or stopping
  std::condition_variable room;   // a waiting place freed, or stopping
  std::condition_variable ended;  // a thread returned
  std::deque<std::function<void()>> waiting;
  bool stopping = false;
  size_t running_threads = 0;
  bool abandoned = false;  // threads were still serving at exit: the server must outlive them

  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      stopping = true;
      waiting.clear();  // not served: their sockets close when the process ends
    }
    work.notify_all();
    room.notify_all();
  }
};

// httplib's own ThreadPool queues without bound and finishes every queued connection before it
// stops, each up to the read timeout: 200 idle clients held the head's exit for minutes. This
// one bounds the queue (enqueue waits for room), drops what still waits when it stops, and
// waits for the connections being served at most serving_grace.
class connection_pool : public httplib::TaskQueue {
public:
  explicit connection_pool(std::shared_ptr<connection_queue> q) : q_(std::move(q)) {
    q_->running_threads = serving_threads;
    for (size_t i = 0; i < serving_threads; ++i)
      std::thread{[q = q_] { serve(*q); }}.detach();
  }

  // On the accepting thread.
  void enqueue(std::function<void()> fn) override {
    {
      std::unique_lock<std::mutex> lock{q_->mtx};
      q_->room.wait(
          lock, [this] { return q_->stopping || q_->waiting.size() < max_waiting_connections; });
      if (q_->stopping)
        return;
      q_->waiting.push_back(std::move(fn));
    }
    q_->work.notify_one();
  }

  void shutdown() override {
    q_->stop();
    std::unique_lock<std::mutex> lock{q_->mtx};
    if (!q_->ended.wait_for(lock, serving_grace, [this] { return q_->running_threads == 0; }))
      q_->abandoned = true;
  }

private:
  static void serve(connection_queue& q) {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock{q.mtx};
        q.work.wait(lock, [&q] { return q.stopping || !q.waiting.empty(); });
        if (q.stopping)
          break;
        job = std::move(q.waiting.front());
        q.waiting.pop_front();
      }
      q.room.notify_one();
      job();
    }
    std::lock_guard<std::mutex> guard{q.mtx};
    --q.running_threads;
    q.ended.notify_all();
  }

  std::shared_ptr<connection_queue> q_;
};

// "127.0.0.1:8265" -> "127.0.0.1", "[::1]:8265" -> "::1", "localhost" -> "localhost"; anything
// else after the name (127.0.0.1:8265.evil.example, [::1].evil) is no Host we know: empty.
std::string host_of(const std::string& header) {
  std::string host = header, port;
  if (!header.empty() && header.front() == '[') {
    auto end = header.find(']');
    if (end == std::string::npos)
      return {};
    host = header.substr(1, end - 1);
    auto rest = header.substr(end + 1);
    if (!rest.empty() && rest.front() != ':')
      return {};
    port = rest.empty() ? rest : rest.substr(1);
  } else if (auto colon = header.find(':'); colon != std::string::npos) {
    host = header.substr(0, colon);
    port = header.substr(colon + 1);
    if (port.empty())
      return {};
  }
  for (char c : port)
    if (c < '0' || c > '9')
      return {};
  return host;
}

// An address literal of the loopback network, or localhost. A name that merely starts with
// "127." (127.attacker.example) is a name anyone can point at 127.0.0.1: not loopback.
bool loopback_name(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  return host == "localhost" || host == "::1";
}

}  // namespace

struct dashboard_server::impl {
  caf::actor_system& sys;
  options opts;
  httplib::Server http;
  uint16_t port = 0;
  std::thread accepting;
  std::shared_ptr<connection_queue> connections = std::make_shared<connection_queue>();
  // Handlers read the actor system; the server's destructor closes this before the system goes.
  std::shared_mutex serving;
  bool closed = false;

  // Runs a handler unless the server is closing (a connection left behind at exit).
  template <class Handler>
  auto guarded(Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      std::shared_lock<std::shared_mutex> lock{serving};
      if (closed) {
        res.status = 503;
        return;
      }
      handler(req, res);
    };
  }

  impl(caf::actor_system& s, options o) : sys(s), opts(std::move(o)) {}

  bool host_allowed(const httplib::Request& req) const {
    auto host = host_of(req.get_header_value("Host"));
    return !host.empty() && (host == opts.host || loopback_name(host));
  }

  void routes() {
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_header("X-Content-Type-Options", "nosniff");
      // Ranges would let one small request ask for the page many times over (bytes=0-,0-,...);
      // nothing here is large enough to want one.
      if (req.has_header("Range")) {
        res.status = 416;
        res.set_content("this server does not serve ranges\n", "text/plain");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!opts.check_host || host_allowed(req))
        return httplib::Server::HandlerResponse::Unhandled;
      res.status = 403;
      res.set_content("unexpected Host header\n", "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy",
                     "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                     "connect-src 'self'; img-src data:");
      res.set_content(std::string{page()}, "text/html; charset=utf-8");
    });
    http.Get("/api/cluster", guarded([this](const httplib::Request&, httplib::Response& res) {
               res.set_content(cluster_json(collect(sys, opts.head_name)), "application/json");
             }));
    http.Get("/api/pools", guarded([this](const httplib::Request&, httplib::Response& res) {
               res.set_content(pools_json(collect(sys, opts.head_name)), "application/json");
             }));
    http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
               res.set_content(prometheus_text(collect(sys, opts.head_name)),
                               "text/plain; version=0.0.4; charset=utf-8");
             }));
  }
};

std::unique_ptr<dashboard_server> dashboard_server::start(caf::actor_system& sys, options opts,
                                                          std::string& problem) {
  observatory::enable();
  auto state = std::make_unique<impl>(sys, std::move(opts));
  auto& http = state->http;
  http.new_task_queue = [q = state->connections] { return new connection_pool(q); };
  http.set_read_timeout(read_timeout_s, 0);
  http.set_write_timeout(read_timeout_s, 0);
  http.set_keep_alive_timeout(keep_alive_timeout_s);
  http.set_payload_max_length(4096);  // read-only: no request has a body worth reading
  state->routes();
  int port = state->opts.port == 0
                 ? http.bind_to_any_port(state->opts.host)
                 : (http.bind_to_port(state->opts.host, state->opts.port) ? state->opts.port : -1);
  if (port <= 0) {
    problem = "cannot serve the dashboard on " + state->opts.host + ":"
              + std::to_string(state->opts.port) + ": " + std::strerror(errno);
    return nullptr;
  }
  state->port = static_cast<uint16_t>(port);
  state->accepting = std::thread{[&http] { http.listen_after_bind(); }};
  // stop() does nothing before the loop runs, and the join in the destructor would then wait
  // forever: be sure it runs before anyone can destroy the server.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (!http.is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  if (!http.is_running()) {
    problem = "the dashboard's HTTP server did not start";
    http.stop();
    state->accepting.detach();
    state.release();  // its thread may still touch it: leaked rather than freed under it
    return nullptr;
  }
  return std::unique_ptr<dashboard_server>{new dashboard_server{std::move(state)}};
}

dashboard_server::dashboard_server(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

dashboard_server::~dashboard_server() {
  {
    std::unique_lock<std::shared_mutex> lock{impl_->serving};  // handlers running now finish
    impl_->closed = true;
  }
  impl_->connections->stop();  // an accepting thread waiting for room goes on
  impl_->http.stop();
  if (impl_->accepting.joinable())
    impl_->accepting.join();
  bool abandoned = false;
  {
    std::lock_guard<std::mutex> guard{impl_->connections->mtx};
    abandoned = impl_->connections->abandoned;
  }
  // Threads still held by trickling clients run inside the server object: left to the process's
  // end rather than freed under them. They no longer reach the actor system (closed).
  if (abandoned)
    static_cast<void>(impl_.release());
}

uint16_t dashboard_server::port() const {
  return impl_->port;
}

}  // namespace troupe::observe
