// A hand-driven TCP peer for the hostile-input tests: speaks (or abuses) the wire protocol byte
// by byte, with bounded waits.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/wire/frame.hpp"
#include "troupe/nodes/wire/handshake.hpp"

namespace troupe::test {

class raw_peer {
public:
  explicit raw_peer(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~raw_peer() {
    if (fd_ >= 0)
      close(fd_);
  }
  raw_peer(const raw_peer&) = delete;
  raw_peer& operator=(const raw_peer&) = delete;

  bool connected() const {
    return connected_;
  }

  bool send_bytes(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL)
           == static_cast<ssize_t>(bytes.size());
  }
  bool send_bytes(const std::vector<char>& bytes) {
    return send_bytes(std::string(bytes.begin(), bytes.end()));
  }

  /// A valid Hello (no secret).
  bool send_hello() {
    wire::Hello hello;
    hello.set_magic("troupe");
    hello.set_protocol_version(wire::protocol_version);
    hello.set_node_name("raw-peer");
    hello.set_nonce(wire::make_nonce());
    hello.set_max_frame_size(wire::default_max_frame_size);
    std::vector<char> out;
    wire::append_frame(out, wire::kind::hello, hello);
    return send_bytes(out);
  }

  /// Next frame from the node, or nullopt on close/timeout.
  std::optional<std::pair<wire::kind, std::string>> read_frame(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      wire::frame_view frame;
      if (decoder_.next(frame) == wire::frame_decoder::status::frame)
        return std::make_pair(frame.type, std::string{frame.body});
      if (!read_some(deadline))
        return std::nullopt;
    }
  }

  /// Completes the handshake: sends Hello, reads the node's Hello.
  bool handshake(std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
    if (!send_hello())
      return false;
    auto frame = read_frame(timeout);
    return frame && frame->first == wire::kind::hello;
  }

  /// The node's Goodbye (other frames are skipped), or nullopt if none came in time.
  std::optional<wire::Goodbye> read_goodbye(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto frame = read_frame(std::max(left, std::chrono::milliseconds{0}));
      if (!frame)
        return std::nullopt;
      if (frame->first == wire::kind::goodbye) {
        wire::Goodbye bye;
        bye.ParseFromString(frame->second);
        return bye;
      }
    }
  }

  /// True once the node closed the connection (bounded wait; frames are skipped).
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_some(deadline)) {
    }
    return eof_;
  }

private:
  bool read_some(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || eof_)
      return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char buf[65536];
    auto n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    decoder_.feed(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  wire::frame_decoder decoder_;
};

}  // namespace troupe::test
