#include "troupe/nodes/wire/handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include <cerrno>
#include <stdexcept>

namespace troupe::wire {

namespace {

constexpr const char* magic = "troupe";
constexpr const char* auth_label = "troupe-auth-v1";
constexpr size_t nonce_size = 32;

const char* role_name(role r) {
  return r == role::connector ? "connector" : "acceptor";
}

role other(role r) {
  return r == role::connector ? role::acceptor : role::connector;
}

}  // namespace

std::string make_nonce() {
  // The kernel's generator, not OpenSSL's: a worker that uses neither a secret nor TLS never
  // initializes OpenSSL (megabytes of resident memory per process).
  std::string nonce(nonce_size, '\0');
  size_t filled = 0;
  while (filled < nonce.size()) {
    auto n = getrandom(nonce.data() + filled, nonce.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::runtime_error("no cryptographic randomness available for the handshake nonce");
    }
    filled += static_cast<size_t>(n);
  }
  return nonce;
}

std::string auth_mac(const std::string& secret, role who, const std::string& verifier_nonce,
                     const std::string& own_nonce) {
  std::string input = auth_label;
  input += '|';
  input += role_name(who);
  input += '|';
  input += verifier_nonce;
  input += '|';
  input += own_nonce;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_size);
  return std::string(reinterpret_cast<char*>(mac), mac_size);
}

handshake::handshake(identity self, handshake_options opts, std::string nonce)
    : self_(std::move(self)), opts_(std::move(opts)), nonce_(std::move(nonce)) {}

void handshake::start(std::vector<char>& out) {
  Hello hello;
  hello.set_magic(magic);
  hello.set_protocol_version(protocol_version);
  hello.set_node_name(self_.name);
  hello.mutable_node_id()->set_process_id(self_.process_id);
  hello.mutable_node_id()->set_host_id(self_.host_id);
  hello.set_nonce(nonce_);
  hello.set_authenticate(!opts_.secret.empty());
  hello.set_max_frame_size(opts_.max_frame_size);
  append_frame(out, kind::hello, hello);
}

handshake::state handshake::fail(errc code, std::string reason, std::vector<char>* goodbye_to) {
  if (goodbye_to) {
    Goodbye bye;
    bye.set_code(static_cast<uint32_t>(code));
    bye.set_reason(reason);
    append_frame(*goodbye_to, kind::goodbye, bye);
  }
  failure_code_ = code;
  failure_ = std::move(reason);
  return state_ = state::failed;
}

handshake::state handshake::on_frame(const frame_view& frame, std::vector<char>& out) {
  if (state_ == state::established || state_ == state::failed)
    return state_;
  if (frame.type == kind::goodbye) {
    Goodbye bye;
    if (!bye.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size())))
      return fail(errc::protocol_error, "malformed Goodbye during the handshake", nullptr);
    return fail(errc_from_wire(bye.code()), "refused by the peer: " + bye.reason(), nullptr);
  }
  if (state_ == state::awaiting_hello)
    return on_hello(frame, out);
  return on_auth(frame, out);
}

handshake::state handshake::on_hello(const frame_view& frame, std::vector<char>& out) {
  if (frame.type != kind::hello)
    return fail(errc::protocol_error,
                std::string{"expected Hello, received "} + to_string(frame.type), &out);
  if (!peer_.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size())))
    return fail(errc::protocol_error, "malformed Hello", &out);
  if (peer_.magic() != magic)
    return fail(errc::protocol_error, "the peer does not speak the troupe protocol", &out);
  if (peer_.protocol_version() != protocol_version)
    return fail(errc::version_mismatch,
                "protocol version mismatch: the peer speaks version "
                    + std::to_string(peer_.protocol_version()) + ", this node speaks version "
                    + std::to_string(protocol_version),
                &out);
  if (peer_.nonce().size() != nonce_size)
    return fail(errc::protocol_error, "Hello without a valid nonce", &out);
  bool authenticate = !opts_.secret.empty();
  if (authenticate && !peer_.authenticate())
    return fail(errc::auth_failed,
                "this node requires authentication and the peer has no cluster secret", &out);
  if (!authenticate && peer_.authenticate())
    return fail(errc::auth_failed,
                "the peer requires authentication and this node has no cluster secret", &out);
  if (!authenticate)
    return state_ = state::established;
  if (peer_.nonce() == nonce_)
    return fail(errc::auth_failed, "the peer echoed this node's nonce (a replayed handshake)",
                &out);
  Auth auth;
  auth.set_mac(auth_mac(opts_.secret, opts_.role, peer_.nonce(), nonce_));
  append_frame(out, kind::auth, auth);
  return state_ = state::awaiting_auth;
}

handshake::state handshake::on_auth(const frame_view& frame, std::vector<char>& out) {
  if (frame.type != kind::auth)
    return fail(errc::protocol_error,
                std::string{"expected Auth, received "} + to_string(frame.type), &out);
  Auth auth;
  if (!auth.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size())))
    return fail(errc::protocol_error, "malformed Auth", &out);
  auto expected = auth_mac(opts_.secret, other(opts_.role), nonce_, peer_.nonce());
  if (auth.mac().size() != expected.size()
      || CRYPTO_memcmp(auth.mac().data(), expected.data(), expected.size()) != 0)
    return fail(errc::auth_failed, "authentication failed: wrong cluster secret", &out);
  return state_ = state::established;
}

}  // namespace troupe::wire
