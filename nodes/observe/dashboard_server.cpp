#include "troupe/nodes/observe/dashboard_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
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
// An idle or trickling client holds a thread this long at most.
constexpr time_t read_timeout_s = 3;
constexpr time_t keep_alive_timeout_s = 2;

// httplib's own ThreadPool finishes every queued connection before it stops, each up to the read
// timeout: 200 idle clients would hold the head's exit for minutes. This one runs what it has
// begun and drops what still waits (their sockets close when the process ends).
class connection_pool : public httplib::TaskQueue {
public:
  explicit connection_pool(size_t n) {
    for (size_t i = 0; i < n; ++i)
      threads_.emplace_back([this] { serve(); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopping_)
        return;
      jobs_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
      jobs_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

private:
  void serve() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock{mtx_};
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_)
          return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// "127.0.0.1:8265" -> "127.0.0.1", "[::1]:8265" -> "::1", "localhost" -> "localhost".
std::string host_of(const std::string& header) {
  if (!header.empty() && header.front() == '[') {
    auto end = header.find(']');
    return end == std::string::npos ? header : header.substr(1, end - 1);
  }
  auto colon = header.find(':');
  return colon == std::string::npos ? header : header.substr(0, colon);
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

  impl(caf::actor_system& s, options o) : sys(s), opts(std::move(o)) {}

  bool host_allowed(const httplib::Request& req) const {
    auto host = host_of(req.get_header_value("Host"));
    return host == opts.host || loopback_name(host);
  }

  void routes() {
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_header("X-Content-Type-Options", "nosniff");
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
    http.Get("/api/cluster", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(cluster_json(collect(sys, opts.head_name)), "application/json");
    });
    http.Get("/api/pools", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(pools_json(collect(sys, opts.head_name)), "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(prometheus_text(collect(sys, opts.head_name)),
                      "text/plain; version=0.0.4; charset=utf-8");
    });
  }
};

std::unique_ptr<dashboard_server> dashboard_server::start(caf::actor_system& sys, options opts,
                                                          std::string& problem) {
  observatory::enable();
  auto state = std::make_unique<impl>(sys, std::move(opts));
  auto& http = state->http;
  http.new_task_queue = [] { return new connection_pool(serving_threads); };
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
  impl_->http.stop();
  if (impl_->accepting.joinable())
    impl_->accepting.join();
}

uint16_t dashboard_server::port() const {
  return impl_->port;
}

}  // namespace troupe::observe
