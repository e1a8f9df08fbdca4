// TLS for TCP links (free of CAF): OpenSSL over memory BIOs, so the broker keeps owning the
// socket and only hands bytes through.
//
//   ciphertext from the socket --> session.receive() --> plaintext for the frame decoder
//   frames to send             --> session.send()    --> ciphertext for the socket
//
// Both sides present a certificate and verify the peer's against the cluster CA (mutual TLS,
// TLS 1.3 only): a node without a certificate, with one from another CA, or with an expired
// one is refused during the TLS handshake, before any troupe frame is read. Host names are not
// checked: in troupe's trust model a certificate signed by the cluster CA *is* a node.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace troupe::wire {

struct tls_options {
  std::string ca_file;    // PEM: the cluster CA that signs node certificates
  std::string cert_file;  // PEM: this node's certificate
  std::string key_file;   // PEM: its private key

  bool enabled() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty();
  }
};

/// Loaded certificates and settings, shared by all sessions of a node.
class tls_context {
public:
  /// Loads the files; on failure returns nullptr and sets `error`.
  static std::shared_ptr<tls_context> make(const tls_options& opts, std::string& error);
  ~tls_context();

  struct impl;
  impl* get() const noexcept {
    return impl_.get();
  }

private:
  std::unique_ptr<impl> impl_;
};

class tls_session {
public:
  tls_session(const tls_context& ctx, bool is_connector);
  ~tls_session();

  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;

  /// Bytes the handshake wants to send first (the connector's ClientHello).
  void start(std::vector<char>& to_socket);

  /// Consumes ciphertext; appends decrypted bytes and anything TLS must answer. False on a
  /// TLS failure (see error()): the connection must be closed.
  bool receive(const char* data, size_t size, std::vector<char>& plaintext,
               std::vector<char>& to_socket);

  /// Encrypts plaintext (buffered until the handshake is done). False on a TLS failure.
  bool send(const char* data, size_t size, std::vector<char>& to_socket);

  bool established() const noexcept {
    return established_;
  }
  const std::string& error() const noexcept {
    return error_;
  }
  /// The peer certificate's subject, once established.
  std::string peer_subject() const;

private:
  bool pump(std::vector<char>& plaintext, std::vector<char>& to_socket);
  bool fail(const std::string& what);
  void drain(std::vector<char>& to_socket);

  struct state;
  std::unique_ptr<state> st_;
  bool established_ = false;
  std::vector<char> pending_;  // plaintext sent before the handshake completed
  std::string error_;
};

}  // namespace troupe::wire
