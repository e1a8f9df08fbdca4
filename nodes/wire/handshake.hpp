// The connection handshake (docs/protocol.md), free of CAF so it can be fuzzed.
//
//        start(): send Hello
//              |
//      [awaiting_hello] --Hello ok, no secret--> [established]
//              | Hello ok, secret: send Auth
//      [awaiting_auth] ----Auth verifies-------> [established]
//   any wrong frame, bad magic or version, auth mismatch, or a Goodbye: [failed]
//   (a refusal sends Goodbye with the reason first, so the peer can tell its user why)
//
// Authentication: with a cluster secret, each side proves knowledge of it with
//   HMAC-SHA256(secret, "troupe-auth-v1" | own role | verifier's nonce | own nonce)
// Nonces are 32 fresh random bytes per connection, so a recorded Auth is useless later, and
// the role ("connector"/"acceptor") keeps a node's own proof from being reflected back to it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "troupe/messages/errc.hpp"
#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/wire/frame.hpp"

namespace troupe::wire {

enum class role : uint8_t { connector, acceptor };

struct identity {
  std::string name;
  uint32_t process_id = 0;
  std::string host_id;  // 20 bytes
};

struct handshake_options {
  wire::role role = role::connector;
  std::string secret;  // empty: no authentication
  uint32_t max_frame_size = default_max_frame_size;
};

/// 32 bytes from the system's cryptographic random source.
std::string make_nonce();

/// The MAC `who` sends, over the verifier's nonce and its own.
std::string auth_mac(const std::string& secret, role who, const std::string& verifier_nonce,
                     const std::string& own_nonce);

class handshake {
public:
  enum class state { awaiting_hello, awaiting_auth, established, failed };

  handshake(identity self, handshake_options opts, std::string nonce = make_nonce());

  /// Appends this side's Hello to `out`.
  void start(std::vector<char>& out);

  /// Consumes one frame received before the handshake ended; may append Auth or Goodbye.
  state on_frame(const frame_view& frame, std::vector<char>& out);

  state current() const noexcept {
    return state_;
  }
  /// The peer's Hello (valid once established).
  const Hello& peer() const noexcept {
    return peer_;
  }
  /// Why the handshake failed: an errc and a sentence for humans.
  errc failure_code() const noexcept {
    return failure_code_;
  }
  const std::string& failure() const noexcept {
    return failure_;
  }

private:
  state fail(errc code, std::string reason, std::vector<char>* goodbye_to);
  state on_hello(const frame_view& frame, std::vector<char>& out);
  state on_auth(const frame_view& frame, std::vector<char>& out);

  identity self_;
  handshake_options opts_;
  std::string nonce_;
  Hello peer_;
  state state_ = state::awaiting_hello;
  errc failure_code_ = errc::protocol_error;
  std::string failure_;
};

}  // namespace troupe::wire
