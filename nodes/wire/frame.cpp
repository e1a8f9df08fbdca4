#include "troupe/nodes/wire/frame.hpp"

#include <cstring>

#include <google/protobuf/message_lite.h>

#include "troupe/messages/wire_format.hpp"

namespace troupe::wire {

namespace {

using namespace troupe::wire_format;

void put_header(char* at, kind type, size_t length) {
  auto n = static_cast<uint32_t>(length);
  at[0] = static_cast<char>(n >> 24);
  at[1] = static_cast<char>(n >> 16);
  at[2] = static_cast<char>(n >> 8);
  at[3] = static_cast<char>(n);
  at[4] = static_cast<char>(type);
}

// Every Envelope field number is below 16: its tag is one byte.
static_assert(f_payload < 16);
size_t varint_field_size(uint64_t value) {
  return value == 0 ? 0 : 1 + varint_size(value);
}

size_t bytes_field_size(size_t n) {
  return 1 + varint_size(n) + n;
}

size_t envelope_body_size(const envelope_header& h, size_t payload_size) {
  size_t n = varint_field_size(h.target) + varint_field_size(h.sender)
             + varint_field_size(h.request_id) + (h.is_response ? 2 : 0) + (h.urgent ? 2 : 0)
             + varint_field_size(h.type_id);
  if (!h.type_name.empty())
    n += bytes_field_size(h.type_name.size());
  if (payload_size > 0)
    n += bytes_field_size(payload_size);
  return n;
}

uint8_t* write_varint_field(uint8_t* at, envelope_field field, uint64_t value) {
  if (value == 0)
    return at;
  *at++ = static_cast<uint8_t>(make_tag(field, varint));
  return write_varint(at, value);
}

uint8_t* write_length_prefix(uint8_t* at, envelope_field field, size_t n) {
  *at++ = static_cast<uint8_t>(make_tag(field, length_delimited));
  return write_varint(at, n);
}

// Writes header and envelope fields up to (and including) the payload's length prefix; returns
// where the payload bytes go.
uint8_t* begin_envelope(std::vector<char>& out, const envelope_header& h, size_t payload_size) {
  auto body = 1 + envelope_body_size(h, payload_size);
  auto offset = out.size();
  out.resize(offset + 4 + body);
  put_header(out.data() + offset, kind::envelope, body);
  auto* at = reinterpret_cast<uint8_t*>(out.data() + offset + header_size);
  at = write_varint_field(at, f_target, h.target);
  at = write_varint_field(at, f_sender, h.sender);
  at = write_varint_field(at, f_request_id, h.request_id);
  at = write_varint_field(at, f_is_response, h.is_response ? 1 : 0);
  at = write_varint_field(at, f_urgent, h.urgent ? 1 : 0);
  at = write_varint_field(at, f_type_id, h.type_id);
  if (!h.type_name.empty()) {
    at = write_length_prefix(at, f_type_name, h.type_name.size());
    std::memcpy(at, h.type_name.data(), h.type_name.size());
    at += h.type_name.size();
  }
  if (payload_size > 0)
    at = write_length_prefix(at, f_payload, payload_size);
  return at;
}

}  // namespace

const char* to_string(kind k) {
  switch (k) {
    case kind::hello:
      return "Hello";
    case kind::auth:
      return "Auth";
    case kind::goodbye:
      return "Goodbye";
    case kind::heartbeat:
      return "Heartbeat";
    case kind::envelope:
      return "Envelope";
    case kind::actor_down:
      return "ActorDown";
    case kind::spawn_request:
      return "SpawnRequest";
    case kind::spawn_response:
      return "SpawnResponse";
  }
  return "unknown";
}

bool is_known(uint8_t k) {
  return k >= static_cast<uint8_t>(kind::hello) && k <= static_cast<uint8_t>(kind::spawn_response);
}

void append_frame(std::vector<char>& out, kind type, const google::protobuf::MessageLite& body) {
  auto size = body.ByteSizeLong();
  auto offset = out.size();
  out.resize(offset + header_size + size);
  put_header(out.data() + offset, type, size + 1);
  body.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(out.data() + offset + header_size));
}

size_t envelope_frame_size(const envelope_header& header, size_t payload_size) {
  return header_size + envelope_body_size(header, payload_size);
}

void append_envelope(std::vector<char>& out, const envelope_header& header,
                     const google::protobuf::MessageLite* payload) {
  size_t payload_size = payload ? payload->ByteSizeLong() : 0;
  auto* at = begin_envelope(out, header, payload_size);
  if (payload_size > 0)
    payload->SerializeWithCachedSizesToArray(at);
}

void append_envelope_sized(std::vector<char>& out, const envelope_header& header,
                           const google::protobuf::MessageLite& payload, size_t payload_size) {
  auto* at = begin_envelope(out, header, payload_size);
  if (payload_size > 0)
    payload.SerializeWithCachedSizesToArray(at);
}

void append_envelope(std::vector<char>& out, const envelope_header& header,
                     std::string_view payload_bytes) {
  auto* at = begin_envelope(out, header, payload_bytes.size());
  if (!payload_bytes.empty())
    std::memcpy(at, payload_bytes.data(), payload_bytes.size());
}

void frame_decoder::feed(const char* data, size_t size) {
  // Compact once the consumed prefix dominates, so the buffer stays about one frame large.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  // A large frame is over: give its memory back rather than keep it for the link's lifetime.
  if (buf_.empty() && buf_.capacity() > retained_capacity)
    std::vector<char>{}.swap(buf_);
  buf_.insert(buf_.end(), data, data + size);
}

frame_decoder::status frame_decoder::next(frame_view& out) {
  auto available = buf_.size() - pos_;
  // The length alone decides about an oversized or empty frame: no waiting for a kind byte.
  if (available < 4)
    return status::need_more;
  const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos_);
  size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
  announced_ = length;
  if (length > max_frame_size_)
    return status::too_large;
  if (length == 0)
    return status::malformed;
  if (available < header_size)
    return status::need_more;
  if (!is_known(p[4]))
    return status::malformed;
  if (available < 4 + length)
    return status::need_more;
  out.type = static_cast<kind>(p[4]);
  out.body = std::string_view{buf_.data() + pos_ + header_size, length - 1};
  pos_ += 4 + length;
  return status::frame;
}

}  // namespace troupe::wire
