#include "troupe/nodes/observe/dashboard_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "troupe/nodes/observe/cluster.hpp"
#include "troupe/nodes/observe/json.hpp"
#include "troupe/nodes/observe/metrics.hpp"
#include "troupe/nodes/observe/observatory.hpp"
#include "troupe/nodes/observe/page.hpp"

namespace troupe::observe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

// The bounds of the server. Together they bound what clients can make the head hold:
// max_connections x (read_buffer_limit + the target and Host copied out of it + the largest
// response) = 256 x (20 KiB + 16 KiB + ~64 KiB), about 25 MiB, however many clients connect and
// whatever they send (the page is 12 KiB; /api/cluster grows by a few hundred bytes a node and
// keeps at most 64 departed nodes and 20 errors a pool).
//
// A request line and its header fields together (a browser sends under 1 KiB). Beyond it the
// request gets 431 and the connection closes: a million short header lines cost 16 KiB.
constexpr size_t header_limit = 16 * 1024;
// Read-only: no request has a body worth reading. Bodies up to this are read and dropped (a
// POST gets its 405), larger ones get 413.
constexpr size_t body_limit = 4 * 1024;
// What a connection's read buffer may hold: the header, and what arrives with it.
constexpr size_t read_buffer_limit = header_limit + body_limit;
// Connections served at once. A new connection beyond it closes the oldest one: a client that
// holds connections (idle, trickling) cannot lock others out for longer than it takes them to
// send a request, which the oldest-first order lets through. Refusing the newest instead would
// let 256 idle connections hold the port; leaving new ones in the kernel's backlog would make
// every client wait behind the idle ones' timeouts.
constexpr size_t max_connections = 256;
// A connection, new or kept alive after an answer, waits this long for a request's first byte.
constexpr auto idle_timeout = 5s;
// From a request's first byte to the end of its header (and small body): a client that trickles
// its header a byte a second is cut here, however steadily it trickles.
constexpr auto request_deadline = 10s;
// Writing one answer, for a client that does not read it.
constexpr auto write_deadline = 10s;
// After accept failed (descriptors ran out): try again later rather than spin.
constexpr auto accept_pause = 100ms;
constexpr int accepts_per_turn = 16;

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

// What the server looks at in a request, and nothing else. Beast's own request parser keeps
// every header field in a node of its own (~60 bytes besides the text): 16 KiB of 4-byte lines
// would cost a request ~250 KiB. This one keeps the method, the target and the two fields the
// server reads, so a request costs its bytes in the read buffer and no more.
class request_head : public http::basic_parser<true> {
public:
  request_head() {
    header_limit(observe::header_limit);
    body_limit(observe::body_limit);
  }

  http::verb method = http::verb::unknown;
  std::string target;
  int version = 11;
  std::string host;
  int host_fields = 0;
  bool has_range = false;

private:
  void on_request_impl(http::verb verb, beast::string_view, beast::string_view request_target,
                       int http_version, error_code&) override {
    method = verb;
    target.assign(request_target.data(), request_target.size());
    version = http_version;
  }
  void on_response_impl(int, beast::string_view, int, error_code&) override {}
  void on_field_impl(http::field name, beast::string_view, beast::string_view value,
                     error_code&) override {
    if (name == http::field::host) {
      ++host_fields;
      host.assign(value.data(), value.size());
    } else if (name == http::field::range) {
      has_range = true;
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  size_t on_body_impl(beast::string_view body, error_code&) override {
    return body.size();  // dropped
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
    return body.size();
  }
  void on_finish_impl(error_code&) override {}
};

using response = http::response<http::string_body>;

response plain(http::status status, std::string text) {
  response res{status, 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::move(text);
  return res;
}

}  // namespace

class connection;

struct dashboard_server::impl {
  caf::actor_system& sys;
  options opts;
  uint16_t port = 0;
  // Set when destruction begins: a request read after it is not answered from the actor system.
  std::atomic<bool> stopping = false;
  // Oldest first, for eviction. Only the server's thread touches it, and the destructor once
  // that thread has ended. Declared before io so that connections still owned by its handlers
  // when io goes can take themselves off the list.
  std::list<connection*> connections;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::thread serving;

  impl(caf::actor_system& s, options o) : sys(s), opts(std::move(o)) {}

  void accept();
  void admit(int fd);
  response answer(const request_head& req);

  bool host_allowed(const request_head& req) const {
    if (req.host_fields != 1)
      return false;
    auto host = host_of(req.host);
    return !host.empty() && (host == opts.host || loopback_name(host));
  }
};

namespace {

constexpr char page_policy[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:";

}  // namespace

// One client's connection: waits for a request, reads it, answers, and again while the client
// keeps it alive. Owned by the handler of its one pending operation; closing its stream (evicted,
// or the server stopping) ends that operation and so the connection.
class connection : public std::enable_shared_from_this<connection> {
public:
  connection(tcp::socket socket, dashboard_server::impl& server)
      : stream_(std::move(socket)), server_(server) {
    server_.connections.push_back(this);
    place_ = std::prev(server_.connections.end());
  }

  ~connection() {
    if (listed_)
      server_.connections.erase(place_);
  }

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void start() {
    wait_for_request();
  }

  // Taken off the list at once, so that its place is free for the connection that evicts it.
  void evict() {
    server_.connections.erase(place_);
    listed_ = false;
    stream_.close();  // its pending operation ends with operation_aborted
  }

private:
  void wait_for_request() {
    if (buffer_.size() > 0)  // pipelined: the next request is already here
      return read_request();
    stream_.expires_after(idle_timeout);
    auto room = std::min<size_t>(512, buffer_.max_size() - buffer_.size());
    stream_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              if (ec)
                                return;  // closed, idle too long, evicted or stopping
                              self->buffer_.commit(n);
                              self->read_request();
                            });
  }

  void read_request() {
    request_.emplace();
    stream_.expires_after(request_deadline);
    http::async_read(stream_, buffer_, *request_,
                     [self = shared_from_this()](error_code ec, size_t) { self->on_request(ec); });
  }

  void on_request(error_code ec) {
    if (ec == http::error::header_limit)
      return send(plain(http::status::request_header_fields_too_large,
                        "request header over " + std::to_string(header_limit >> 10) + " KiB\n"),
                  false);
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow)
      return send(plain(http::status::payload_too_large, "this server reads no bodies\n"), false);
    if (malformed(ec))
      return send(plain(http::status::bad_request, "malformed request\n"), false);
    if (ec)
      return;  // closed, timed out, evicted or stopping: the last reference goes
    response res;
    try {
      res = server_.answer(*request_);
    } catch (const std::exception& e) {  // out of memory, most likely: the thread must go on
      res = plain(http::status::internal_server_error, std::string{e.what()} + "\n");
    }
    if (request_->method == http::verb::head) {  // the GET's header, without its body
      res.content_length(res.body().size());
      res.body().clear();
    }
    send(std::move(res), request_->keep_alive());
  }

  // The request broke HTTP's grammar (garbage bytes), rather than the connection ending.
  static bool malformed(error_code ec) {
    return ec && ec.category() == make_error_code(http::error::bad_method).category()
           && ec != http::error::end_of_stream && ec != http::error::partial_message;
  }

  void send(response res, bool keep_alive) {
    if (!res.has_content_length())  // a HEAD's was set from the body it does not send
      res.prepare_payload();
    res.keep_alive(keep_alive);
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    response_ = std::move(res);
    stream_.expires_after(write_deadline);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive](error_code ec, size_t) {
                        if (!ec && keep_alive)
                          self->wait_for_request();
                        // Otherwise the last reference goes: the socket closes.
                      });
  }

  beast::tcp_stream stream_;
  dashboard_server::impl& server_;
  std::list<connection*>::iterator place_;
  bool listed_ = true;
  beast::flat_buffer buffer_{read_buffer_limit};
  std::optional<request_head> request_;
  response response_;
};

// Accepts with accept4 rather than asio's accept: the head spawns worker processes, and a
// connection's descriptor must not live on in them (asio's accepted sockets lack FD_CLOEXEC).
void dashboard_server::impl::accept() {
  acceptor.async_wait(tcp::acceptor::wait_read, [this](error_code ec) {
    if (ec)
      return;  // stopping
    // A few at a time, so that a flood of connections leaves the connections' reads their turns.
    for (int accepted = 0; accepted < accepts_per_turn;) {
      int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        admit(fd);
        ++accepted;
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return accept();
      // Out of descriptors or memory: what is connected waits in the backlog until some close.
      accept_retry.expires_after(accept_pause);
      return accept_retry.async_wait([this](error_code ec) {
        if (!ec)
          accept();
      });
    }
    accept();
  });
}

void dashboard_server::impl::admit(int fd) {
  if (connections.size() >= max_connections)
    connections.front()->evict();
  error_code ec;
  tcp::socket socket{io};
  socket.assign(acceptor.local_endpoint().protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  socket.set_option(tcp::no_delay{true}, ec);  // an answer is one write: send it now
  std::make_shared<connection>(std::move(socket), *this)->start();
}

response dashboard_server::impl::answer(const request_head& req) {
  response res;
  // Ranges would let one small request ask for the page many times over (bytes=0-,0-,...);
  // nothing here is large enough to want one.
  if (req.has_range)
    res = plain(http::status::range_not_satisfiable, "this server does not serve ranges\n");
  else if (opts.check_host && !host_allowed(req))
    res = plain(http::status::forbidden, "unexpected Host header\n");
  else if (req.method != http::verb::get && req.method != http::verb::head) {
    res = plain(http::status::method_not_allowed, "read-only: GET or HEAD\n");
    res.set(http::field::allow, "GET, HEAD");
  } else {
    auto path = req.target.substr(0, req.target.find('?'));
    if (path == "/") {
      res.result(http::status::ok);
      res.set("Content-Security-Policy", page_policy);
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.body() = std::string{page()};
    } else if (path != "/api/cluster" && path != "/api/pools" && path != "/metrics") {
      res = plain(http::status::not_found, "not found\n");
    } else if (stopping) {
      // The head is exiting: the actor system may be going.
      res = plain(http::status::service_unavailable, "the head is exiting\n");
    } else {
      auto view = collect(sys, opts.head_name);
      res.result(http::status::ok);
      if (path == "/metrics") {
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = prometheus_text(view);
      } else {
        res.set(http::field::content_type, "application/json");
        res.body() = path == "/api/pools" ? pools_json(view) : cluster_json(view);
      }
    }
  }
  res.version(req.version);
  return res;
}

std::unique_ptr<dashboard_server> dashboard_server::start(caf::actor_system& sys, options opts,
                                                          std::string& problem) {
  observatory::enable();
  auto state = std::make_unique<impl>(sys, std::move(opts));
  auto where = state->opts.host + ":" + std::to_string(state->opts.port);
  error_code ec;
  auto address = asio::ip::make_address(state->opts.host, ec);
  if (ec) {
    problem = "cannot serve the dashboard on " + where + ": not a numeric address";
    return nullptr;
  }
  tcp::endpoint endpoint{address, state->opts.port};
  // Opened here with SOCK_CLOEXEC, for the reason accept() gives.
  int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    problem = "cannot serve the dashboard on " + where + ": " + std::strerror(errno);
    return nullptr;
  }
  auto& acceptor = state->acceptor;
  acceptor.assign(endpoint.protocol(), fd, ec);
  if (!ec)
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec)
    acceptor.non_blocking(true, ec);
  if (ec) {
    problem = "cannot serve the dashboard on " + where + ": " + ec.message();
    return nullptr;
  }
  state->port = acceptor.local_endpoint().port();
  state->accept();
  state->serving = std::thread{[&io = state->io] { io.run(); }};
  return std::unique_ptr<dashboard_server>{new dashboard_server{std::move(state)}};
}

dashboard_server::dashboard_server(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

// The thread stops after the handler it runs now, if any (a request for /api/* waits at most
// a second for each pool); nothing waits for a client. The connections' sockets close as the
// io_context drops the handlers that own them.
dashboard_server::~dashboard_server() {
  impl_->stopping = true;
  impl_->io.stop();
  impl_->serving.join();
}

uint16_t dashboard_server::port() const {
  return impl_->port;
}

}  // namespace troupe::observe
