// The frame codec on its own: round trips, frames split anywhere, several frames per read,
// limits enforced before a body is buffered, and envelopes the generated Protobuf code reads.
#include <gtest/gtest.h>

#include "troupe/messages/wire.pb.h"
#include "troupe/nodes/wire/envelope.hpp"
#include "troupe/nodes/wire/frame.hpp"

namespace {

using namespace troupe::wire;
using status = frame_decoder::status;

Heartbeat beat(uint64_t n) {
  Heartbeat h;
  h.set_sequence(n);
  return h;
}

TEST(Frame, RoundTripsOneFrame) {
  std::vector<char> out;
  append_frame(out, kind::heartbeat, beat(7));
  frame_decoder decoder;
  decoder.feed(out.data(), out.size());
  frame_view frame;
  ASSERT_EQ(decoder.next(frame), status::frame);
  EXPECT_EQ(frame.type, kind::heartbeat);
  Heartbeat back;
  ASSERT_TRUE(back.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size())));
  EXPECT_EQ(back.sequence(), 7u);
  EXPECT_EQ(decoder.next(frame), status::need_more);
}

TEST(Frame, HeaderIsBigEndianLengthThenKind) {
  std::vector<char> out;
  append_frame(out, kind::heartbeat, beat(1));  // body: 08 01
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(std::vector<char>(out.begin(), out.begin() + 5), (std::vector<char>{0, 0, 0, 3, 4}));
}

TEST(Frame, DecodesFramesSplitAtEveryByte) {
  std::vector<char> out;
  for (uint64_t i = 1; i <= 50; ++i)
    append_frame(out, kind::heartbeat, beat(i * 1000));
  frame_decoder decoder;
  frame_view frame;
  uint64_t expected = 1;
  for (char c : out) {
    decoder.feed(&c, 1);
    while (decoder.next(frame) == status::frame) {
      Heartbeat back;
      ASSERT_TRUE(back.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size())));
      EXPECT_EQ(back.sequence(), expected++ * 1000);
    }
  }
  EXPECT_EQ(expected, 51u);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(Frame, RefusesAnOversizedFrameBeforeReadingItsBody) {
  frame_decoder decoder{1024};
  const char header[] = {0x7f, 0, 0, 0, 5};  // announces 2 GiB
  decoder.feed(header, sizeof(header));
  frame_view frame;
  EXPECT_EQ(decoder.next(frame), status::too_large);
  EXPECT_EQ(decoder.announced_size(), 0x7f000000u);
  EXPECT_LE(decoder.buffered(), 5u);
}

TEST(Frame, RefusesAnEmptyFrameAndAnUnknownKind) {
  frame_view frame;
  frame_decoder empty;
  const char zero[] = {0, 0, 0, 0, 0};
  empty.feed(zero, sizeof(zero));
  EXPECT_EQ(empty.next(frame), status::malformed);
  frame_decoder unknown;
  const char kind99[] = {0, 0, 0, 1, 99};
  unknown.feed(kind99, sizeof(kind99));
  EXPECT_EQ(unknown.next(frame), status::malformed);
}

TEST(Frame, KnowsFromTheLengthAloneThatAFrameIsEmptyOrTooLarge) {
  // No kind byte needed: a peer that sends four bytes and waits must not be waited for.
  frame_view frame;
  frame_decoder empty;
  const char zero[] = {0, 0, 0, 0};
  empty.feed(zero, sizeof(zero));
  EXPECT_EQ(empty.next(frame), status::malformed);
  frame_decoder huge{1024};
  const char length[] = {0x7f, 0, 0, 0};
  huge.feed(length, sizeof(length));
  EXPECT_EQ(huge.next(frame), status::too_large);
  frame_decoder partial;
  partial.feed(zero, 3);
  EXPECT_EQ(partial.next(frame), status::need_more);
}

TEST(Frame, GivesBackTheMemoryOfALargeFrameOnceItIsRead) {
  frame_decoder decoder;
  Goodbye bye;
  bye.set_reason(std::string(4 * 1024 * 1024, 'x'));
  std::vector<char> big;
  append_frame(big, kind::goodbye, bye);
  decoder.feed(big.data(), big.size());
  frame_view frame;
  ASSERT_EQ(decoder.next(frame), status::frame);
  EXPECT_EQ(frame.body.size(), big.size() - header_size);
  std::vector<char> small;
  append_frame(small, kind::heartbeat, beat(2));
  decoder.feed(small.data(), small.size());
  ASSERT_EQ(decoder.next(frame), status::frame);
  EXPECT_EQ(frame.type, kind::heartbeat);
  EXPECT_LT(decoder.capacity(), big.size());
}

TEST(Frame, EnvelopeEncoderWritesWhatTheGeneratedParserReads) {
  Heartbeat payload = beat(42);
  envelope_header h;
  h.target = 12;
  h.sender = 34;
  h.request_id = (uint64_t{1} << 59) + 5;
  h.is_response = true;
  h.urgent = true;
  h.type_id = 3;
  h.type_name = "troupe.wire.Heartbeat";
  std::vector<char> out;
  append_envelope(out, h, &payload);
  EXPECT_EQ(out.size(), envelope_frame_size(h, payload.ByteSizeLong()));
  frame_decoder decoder;
  decoder.feed(out.data(), out.size());
  frame_view frame;
  ASSERT_EQ(decoder.next(frame), status::frame);
  ASSERT_EQ(frame.type, kind::envelope);
  Envelope env;
  ASSERT_TRUE(env.ParseFromArray(frame.body.data(), static_cast<int>(frame.body.size())));
  EXPECT_EQ(env.target(), 12u);
  EXPECT_EQ(env.sender(), 34u);
  EXPECT_EQ(env.request_id(), h.request_id);
  EXPECT_TRUE(env.is_response());
  EXPECT_TRUE(env.urgent());
  EXPECT_EQ(env.type_id(), 3u);
  EXPECT_EQ(env.type_name(), "troupe.wire.Heartbeat");
  EXPECT_EQ(env.payload(), payload.SerializeAsString());
}

TEST(Frame, EnvelopeWithDefaultsOmitsThem) {
  envelope_header h;
  h.target = 1;
  std::vector<char> out;
  append_envelope(out, h, std::string_view{});
  EXPECT_EQ(out.size(), 5u + 2u);  // header + (tag, varint) of target only
  Envelope env;
  ASSERT_TRUE(env.ParseFromArray(out.data() + 5, static_cast<int>(out.size() - 5)));
  EXPECT_EQ(env.target(), 1u);
  EXPECT_TRUE(env.payload().empty());
}

TEST(Envelope, TheZeroCopyReaderReadsWhatTheEncoderWrote) {
  Heartbeat payload = beat(99);
  envelope_header h;
  h.target = 3;
  h.sender = 4;
  h.request_id = 5;
  h.is_response = true;
  h.type_id = 6;
  h.type_name = "troupe.wire.Heartbeat";
  std::vector<char> out;
  append_envelope(out, h, &payload);
  envelope_view env;
  ASSERT_TRUE(
      read_envelope(std::string_view{out.data() + header_size, out.size() - header_size}, env));
  EXPECT_EQ(env.target, 3u);
  EXPECT_EQ(env.sender, 4u);
  EXPECT_EQ(env.request_id, 5u);
  EXPECT_TRUE(env.is_response);
  EXPECT_FALSE(env.urgent);
  EXPECT_EQ(env.type_id, 6u);
  EXPECT_EQ(env.type_name, "troupe.wire.Heartbeat");
  EXPECT_EQ(env.payload, payload.SerializeAsString());
}

TEST(Envelope, TheReaderSkipsUnknownFieldsAndTakesTheLastValue) {
  Envelope env;
  env.set_target(1);
  std::string bytes = env.SerializeAsString();
  bytes += std::string("\x08\x07", 2);          // target again: the last value wins
  bytes += std::string("\xa8\x06\x2a", 3);      // field 101 (varint): unknown, skipped
  bytes += std::string("\xb2\x06\x02hi", 5);    // field 102 (bytes): unknown, skipped
  bytes += std::string("\x63\x08\x09\x64", 4);  // group 12 holding a target: skipped whole
  envelope_view view;
  ASSERT_TRUE(read_envelope(bytes, view));
  EXPECT_EQ(view.target, 7u);
  Envelope reference;
  ASSERT_TRUE(reference.ParseFromString(bytes));
  EXPECT_EQ(reference.target(), 7u);
}

TEST(Envelope, TheReaderRejectsMalformedBytes) {
  envelope_view view;
  EXPECT_FALSE(read_envelope(std::string("\x08", 1), view));  // truncated varint
  EXPECT_FALSE(read_envelope(std::string("\x42\x05"
                                         "ab",
                                         4),
                             view));                              // payload too short
  EXPECT_FALSE(read_envelope(std::string("\x0b", 1), view));      // group never ended
  EXPECT_FALSE(read_envelope(std::string("\x0c", 1), view));      // end of no group
  EXPECT_FALSE(read_envelope(std::string("\x00\x01", 2), view));  // field number 0
  EXPECT_FALSE(read_envelope(std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),
                             view));  // varint over 10 bytes
}

}  // namespace
