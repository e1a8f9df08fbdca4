#include "troupe/nodes/wire/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

namespace troupe::wire {

namespace {

std::string openssl_errors() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

}  // namespace

struct tls_context::impl {
  SSL_CTX* ctx = nullptr;
  ~impl() {
    SSL_CTX_free(ctx);
  }
};

std::shared_ptr<tls_context> tls_context::make(const tls_options& opts, std::string& error) {
  if (opts.ca_file.empty() || opts.cert_file.empty() || opts.key_file.empty()) {
    error = "TLS needs a CA file, a certificate and a key (--tls-ca, --tls-cert, --tls-key)";
    return nullptr;
  }
  auto result = std::shared_ptr<tls_context>(new tls_context);
  result->impl_ = std::make_unique<impl>();
  auto* ctx = SSL_CTX_new(TLS_method());
  result->impl_->ctx = ctx;
  if (!ctx) {
    error = openssl_errors();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  // Both directions present and verify certificates: only the cluster CA's nodes get in.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (SSL_CTX_load_verify_locations(ctx, opts.ca_file.c_str(), nullptr) != 1) {
    error = "cannot load the CA " + opts.ca_file + ": " + openssl_errors();
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, opts.cert_file.c_str()) != 1) {
    error = "cannot load the certificate " + opts.cert_file + ": " + openssl_errors();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, opts.key_file.c_str(), SSL_FILETYPE_PEM) != 1
      || SSL_CTX_check_private_key(ctx) != 1) {
    error = "cannot load the key " + opts.key_file + ": " + openssl_errors();
    return nullptr;
  }
  return result;
}

tls_context::~tls_context() = default;

struct tls_session::state {
  SSL* ssl = nullptr;
  BIO* in = nullptr;   // ciphertext from the socket, read by OpenSSL
  BIO* out = nullptr;  // ciphertext from OpenSSL, for the socket
  ~state() {
    SSL_free(ssl);  // frees both BIOs
  }
};

tls_session::tls_session(const tls_context& ctx, bool is_connector)
    : st_(std::make_unique<state>()) {
  st_->ssl = SSL_new(ctx.get()->ctx);
  st_->in = BIO_new(BIO_s_mem());
  st_->out = BIO_new(BIO_s_mem());
  SSL_set_bio(st_->ssl, st_->in, st_->out);
  if (is_connector)
    SSL_set_connect_state(st_->ssl);
  else
    SSL_set_accept_state(st_->ssl);
}

tls_session::~tls_session() = default;

void tls_session::drain(std::vector<char>& to_socket) {
  char buf[16384];
  int n;
  while ((n = BIO_read(st_->out, buf, sizeof(buf))) > 0)
    to_socket.insert(to_socket.end(), buf, buf + n);
}

bool tls_session::fail(const std::string& what) {
  if (error_.empty())
    error_ = what;
  return false;
}

void tls_session::start(std::vector<char>& to_socket) {
  ERR_clear_error();
  SSL_do_handshake(st_->ssl);
  drain(to_socket);
}

bool tls_session::pump(std::vector<char>& plaintext, std::vector<char>& to_socket) {
  if (!established_) {
    ERR_clear_error();
    int rc = SSL_do_handshake(st_->ssl);
    if (rc != 1) {
      int err = SSL_get_error(st_->ssl, rc);
      drain(to_socket);  // an alert tells the peer why
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return true;
      auto verify = SSL_get_verify_result(st_->ssl);
      if (verify != X509_V_OK)
        return fail(std::string{"TLS handshake failed: "} + X509_verify_cert_error_string(verify));
      return fail("TLS handshake failed: " + openssl_errors());
    }
    established_ = true;
    if (!pending_.empty()) {
      auto pending = std::move(pending_);
      pending_.clear();
      if (!send(pending.data(), pending.size(), to_socket))
        return false;
    }
  }
  char buf[16384];
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(st_->ssl, buf, sizeof(buf));
    if (n > 0) {
      plaintext.insert(plaintext.end(), buf, buf + n);
      continue;
    }
    int err = SSL_get_error(st_->ssl, n);
    drain(to_socket);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
      return true;
    if (err == SSL_ERROR_ZERO_RETURN)
      return fail("the peer closed the TLS session");
    return fail("TLS error: " + openssl_errors());
  }
}

bool tls_session::receive(const char* data, size_t size, std::vector<char>& plaintext,
                          std::vector<char>& to_socket) {
  if (!error_.empty())
    return false;
  if (size > 0 && BIO_write(st_->in, data, static_cast<int>(size)) != static_cast<int>(size))
    return fail("TLS: cannot buffer received bytes");
  return pump(plaintext, to_socket);
}

bool tls_session::send(const char* data, size_t size, std::vector<char>& to_socket) {
  if (!error_.empty())
    return false;
  if (!established_) {
    pending_.insert(pending_.end(), data, data + size);
    return true;
  }
  while (size > 0) {
    ERR_clear_error();
    int n = SSL_write(st_->ssl, data, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    if (n <= 0)
      return fail("TLS write failed: " + openssl_errors());
    data += n;
    size -= static_cast<size_t>(n);
  }
  drain(to_socket);
  return true;
}

std::string tls_session::peer_subject() const {
  X509* cert = SSL_get1_peer_certificate(st_->ssl);
  if (!cert)
    return {};
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  X509_free(cert);
  return buf;
}

}  // namespace troupe::wire
