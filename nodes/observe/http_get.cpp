#include "troupe/nodes/observe/http_get.hpp"

#include <algorithm>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace troupe::observe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Each step's own limit, within the whole deadline: a head answers in milliseconds, so a server
// that takes longer than these is not going to.
constexpr auto connect_timeout = 3s;
constexpr auto write_timeout = 5s;
// How long a read may wait for the next bytes.
constexpr auto silence_timeout = 5s;

// Runs one asynchronous operation, started by `start`, to its end on the calling thread. The
// stream's expiry (set before) bounds it; the operation's result is its error code.
template <class Start>
error_code run_one(asio::io_context& io, Start start) {
  error_code result;
  start([&result](error_code ec, auto&&...) { result = ec; });
  io.restart();
  io.run();
  return result;
}

}  // namespace

std::string host_and_port(const std::string& host, uint16_t port) {
  auto name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return name + ":" + std::to_string(port);
}

http_answer http_get(const std::string& host, uint16_t port, const std::string& target,
                     size_t max_body, std::chrono::seconds deadline) {
  auto give_up = clock::now() + deadline;
  auto within = [&](clock::duration step) { return std::min(step, give_up - clock::now()); };
  http_answer a;
  asio::io_context io{1};
  error_code ec;
  // A name goes through the system's resolver, bounded by its own timeouts (resolv.conf), not by
  // `deadline`: asio cannot abandon a getaddrinfo call it started. Addresses and localhost, what
  // --status is given in practice, resolve without asking anyone.
  auto endpoints = tcp::resolver{io}.resolve(host, std::to_string(port), ec);
  if (ec) {
    a.problem = "cannot resolve " + host + ": " + ec.message();
    return a;
  }
  beast::tcp_stream stream{io};
  stream.expires_after(within(connect_timeout));
  ec = run_one(io, [&](auto done) { stream.async_connect(endpoints, done); });
  if (ec == asio::error::connection_refused)
    a.problem = "nothing accepts connections there";
  else if (ec == beast::error::timeout)
    a.problem = "the connection timed out";
  else if (ec)
    a.problem = ec.message();
  if (ec)
    return a;

  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host_and_port(host, port));
  req.set(http::field::user_agent, "troupe --status");
  req.set(http::field::accept, "application/json");
  req.keep_alive(false);
  stream.expires_after(within(write_timeout));
  ec = run_one(io, [&](auto done) { http::async_write(stream, req, done); });

  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  beast::flat_buffer buffer;
  while (!ec && !parser.is_done()) {
    stream.expires_after(within(silence_timeout));
    ec = run_one(io, [&](auto done) { http::async_read_some(stream, buffer, parser, done); });
  }
  if (parser.is_header_done())
    a.status = parser.get().result_int();
  if (ec == http::error::body_limit) {
    a.too_large = true;
    a.problem = "its answer is over " + std::to_string(max_body >> 20) + " MiB";
  } else if (ec == beast::error::timeout && clock::now() >= give_up) {
    a.past_deadline = true;
    a.problem = "no whole answer within " + std::to_string(deadline.count()) + " s";
  } else if (ec && ec.category() == make_error_code(http::error::bad_version).category()
             && ec != http::error::end_of_stream && ec != http::error::partial_message) {
    a.problem = "its answer is not HTTP (" + ec.message() + ")";
  } else if (ec) {
    a.problem = "no answer (it timed out, or the connection closed)";
  }
  if (!ec)
    a.body = std::move(parser.get().body());
  return a;
}

}  // namespace troupe::observe
