// dashboard_server: the head's read-only HTTP window on its cluster (--dashboard ADDR:PORT).
//
//   GET /              the page (page.hpp): polls /api/cluster every second
//   GET /api/cluster   nodes, pools, rejections as JSON (json.hpp, docs/dashboard.md)
//   GET /api/pools     the pools alone
//   GET /metrics       Prometheus text format (metrics.hpp)
//
// Runs on one thread of its own (an asio io_context; Boost.Beast parses and writes HTTP), never
// on CAF's scheduler: slow, idle or hostile clients cost that thread's attention in turns, never
// the cluster's. Every connection is bounded: 16 KiB of request header (then 431), 4 KiB of body
// (then 413; methods other than GET and HEAD get 405), 5 s to start a request, 10 s to finish
// it, 10 s to take its answer, and 256 connections at once (a new one closes the oldest). What
// clients can make the head hold is so bounded, about 25 MiB (dashboard_server.cpp says how).
// Starting it turns the observatory on (observatory.hpp); a program without --dashboard never
// starts it and pays nothing. On loopback binds, requests whose Host header is not the bound
// address, localhost or a loopback address are refused with 403 (options::check_host). Whether
// the address may be bound at all is decided by the caller (run.cpp: loopback, or credentials
// configured).
//
// Destroying it stops the thread after the request it answers now (a request for /api/* waits
// at most a second for each pool) and closes every connection: the head's exit never waits for
// a client.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

namespace troupe::observe {

class dashboard_server {
public:
  struct options {
    std::string host;   // a numeric address to bind
    uint16_t port = 0;  // 0 picks a free port
    std::string head_name;
    /// Refuse requests whose Host is not this address, localhost or loopback (loopback binds:
    /// a web page elsewhere cannot read the dashboard by DNS rebinding).
    bool check_host = false;
  };

  /// Binds and starts serving; null (and `problem`) if the address cannot be bound.
  static std::unique_ptr<dashboard_server> start(caf::actor_system& sys, options opts,
                                                 std::string& problem);

  ~dashboard_server();
  dashboard_server(const dashboard_server&) = delete;
  dashboard_server& operator=(const dashboard_server&) = delete;

  /// The bound port.
  uint16_t port() const;

  struct impl;

private:
  explicit dashboard_server(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

}  // namespace troupe::observe
