// Framing of the troupe wire protocol (docs/protocol.md), free of CAF so it can be fuzzed.
//
//   frame := length:u32 big-endian | kind:u8 | body
//   length counts kind + body; body is one Protobuf message chosen by kind.
//
// frame_decoder cuts a byte stream into frames. It never allocates more than the announced
// frame (bounded by max_frame_size) and reports a frame announcing more as an error before
// reading its body. Encoding appends to a caller's buffer, so many frames share one write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class MessageLite;
}

namespace troupe::wire {

inline constexpr uint32_t protocol_version = 1;
inline constexpr size_t header_size = 5;
inline constexpr size_t default_max_frame_size = 16 * 1024 * 1024;
/// Frames before the handshake completes are small; a larger one is hostile.
inline constexpr size_t handshake_max_frame_size = 4096;

enum class kind : uint8_t {
  hello = 1,
  auth = 2,
  goodbye = 3,
  heartbeat = 4,
  envelope = 5,
  actor_down = 6,
  spawn_request = 7,
  spawn_response = 8,
};

const char* to_string(kind k);
bool is_known(uint8_t k);

struct frame_view {
  kind type;
  std::string_view body;
};

/// Appends one frame carrying `body` to `out`.
void append_frame(std::vector<char>& out, kind type, const google::protobuf::MessageLite& body);

/// The field numbers of troupe.wire.Envelope (messages/wire.proto), which the writer below and
/// the reader (envelope.hpp) encode by hand.
enum envelope_field : uint32_t {
  f_target = 1,
  f_sender = 2,
  f_request_id = 3,
  f_is_response = 4,
  f_urgent = 5,
  f_type_id = 6,
  f_type_name = 7,
  f_payload = 8,
};

/// Appends an Envelope frame, writing the payload's bytes straight into `out` (no temporary).
/// Fields equal to their default are omitted, as Protobuf does.
struct envelope_header {
  uint64_t target = 0;
  uint64_t sender = 0;
  uint64_t request_id = 0;
  bool is_response = false;
  bool urgent = false;
  uint32_t type_id = 0;
  std::string_view type_name;  // empty unless this frame binds type_id
};
void append_envelope(std::vector<char>& out, const envelope_header& header,
                     const google::protobuf::MessageLite* payload);
/// Same, when the caller already called payload.ByteSizeLong() (it caches the sizes).
void append_envelope_sized(std::vector<char>& out, const envelope_header& header,
                           const google::protobuf::MessageLite& payload, size_t payload_size);
/// Same, with an already serialized payload.
void append_envelope(std::vector<char>& out, const envelope_header& header,
                     std::string_view payload_bytes);

/// Size of the Envelope frame append_envelope would write.
size_t envelope_frame_size(const envelope_header& header, size_t payload_size);

class frame_decoder {
public:
  enum class status {
    frame,      // next() filled a frame
    need_more,  // the buffered bytes hold no complete frame
    too_large,  // a frame announces more than max_frame_size: the stream is unusable
    malformed,  // an empty frame (length 0, known from the length alone), or a kind this
                // version does not know: unusable
  };

  explicit frame_decoder(size_t max_frame_size = default_max_frame_size)
      : max_frame_size_(max_frame_size) {}

  void set_max_frame_size(size_t n) {
    max_frame_size_ = n;
  }

  /// Appends received bytes.
  void feed(const char* data, size_t size);

  /// Takes the next complete frame. The view stays valid until the next feed() or next().
  status next(frame_view& out);

  /// The length the offending frame announced (after too_large).
  size_t announced_size() const noexcept {
    return announced_;
  }

  size_t buffered() const noexcept {
    return buf_.size() - pos_;
  }

  /// The memory the decoder holds for its buffer.
  size_t capacity() const noexcept {
    return buf_.capacity();
  }

private:
  // Buffer kept between frames; a larger one (left by a large frame) is released.
  static constexpr size_t retained_capacity = 256 * 1024;

  std::vector<char> buf_;
  size_t pos_ = 0;
  size_t max_frame_size_;
  size_t announced_ = 0;
};

}  // namespace troupe::wire
