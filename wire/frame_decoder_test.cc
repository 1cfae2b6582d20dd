// SPDX-License-Identifier: MIT
#include "wire/frame_decoder.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::wire {
namespace {

std::string FrameBytes(Kind kind, uint64_t request_id, absl::string_view header,
                       absl::string_view payload) {
  Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = request_id;
  return std::string(Frame::Build(prefix, header, payload).bytes());
}

// Drains every complete frame; fails the test on a decoder error.
std::vector<Frame> Drain(FrameDecoder& decoder) {
  std::vector<Frame> frames;
  while (true) {
    absl::StatusOr<std::optional<Frame>> next = decoder.Next();
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok() || !next->has_value()) return frames;
    frames.push_back(std::move(**next));
  }
}

TEST(FrameDecoderTest, DecodesFramesFedOneByteAtATime) {
  std::string bytes = FrameBytes(Kind::kCall, 1, "head", "payload") +
                      FrameBytes(Kind::kReply, 2, "", "") +
                      FrameBytes(Kind::kPing, 3, "h", "");
  FrameDecoder decoder(Limits{});
  std::vector<Frame> frames;
  for (char c : bytes) {
    decoder.Append(absl::string_view(&c, 1));
    for (Frame& f : Drain(decoder)) frames.push_back(std::move(f));
  }
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].kind(), Kind::kCall);
  EXPECT_EQ(frames[0].header_bytes(), "head");
  EXPECT_EQ(frames[0].payload(), "payload");
  EXPECT_EQ(frames[1].kind(), Kind::kReply);
  EXPECT_EQ(frames[1].payload(), "");
  EXPECT_EQ(frames[2].request_id(), 3u);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoderTest, ManySmallFramesComeOutOfOneRead) {
  std::string bytes;
  for (int i = 0; i < 100; ++i) {
    bytes += FrameBytes(Kind::kCall, i + 1, "h", std::string(64, 'x'));
  }
  FrameDecoder decoder(Limits{});
  absl::Span<char> span = decoder.WritableSpan();
  ASSERT_GE(span.size(), bytes.size());
  std::memcpy(span.data(), bytes.data(), bytes.size());
  decoder.Commit(bytes.size());
  std::vector<Frame> frames = Drain(decoder);
  ASSERT_EQ(frames.size(), 100u);
  EXPECT_EQ(frames[99].request_id(), 100u);
}

TEST(FrameDecoderTest, LargeFrameIsReadStraightIntoItsOwnBuffer) {
  std::string payload(3 * FrameDecoder::kStagingBytes + 17, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i);
  std::string bytes = FrameBytes(Kind::kReply, 9, "hdr", payload) +
                      FrameBytes(Kind::kPing, 10, "", "");
  FrameDecoder decoder(Limits{});
  EXPECT_FALSE(decoder.filling_large_frame());
  size_t offset = 0;
  std::vector<Frame> frames;
  bool was_filling = false;
  while (offset < bytes.size()) {
    absl::Span<char> span = decoder.WritableSpan();
    if (span.empty()) {
      for (Frame& f : Drain(decoder)) frames.push_back(std::move(f));
      continue;
    }
    const size_t n =
        std::min<size_t>({span.size(), bytes.size() - offset, 1000});
    std::memcpy(span.data(), bytes.data() + offset, n);
    decoder.Commit(n);
    offset += n;
    for (Frame& f : Drain(decoder)) frames.push_back(std::move(f));
    // Filling in place from the read that brought the large prefix until
    // the frame is whole.
    was_filling = was_filling || decoder.filling_large_frame();
    EXPECT_EQ(decoder.filling_large_frame(), frames.empty()) << offset;
  }
  EXPECT_TRUE(was_filling);
  EXPECT_FALSE(decoder.filling_large_frame());
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].payload(), payload);
  EXPECT_EQ(frames[0].header_bytes(), "hdr");
  EXPECT_EQ(frames[1].request_id(), 10u);
}

TEST(FrameDecoderTest, AppendAcrossALargeFrameBoundaryKeepsTheNextFrame) {
  std::string payload(FrameDecoder::kStagingBytes * 2, 'p');
  std::string bytes = FrameBytes(Kind::kReply, 1, "", payload) +
                      FrameBytes(Kind::kPing, 2, "", "");
  FrameDecoder decoder(Limits{});
  decoder.Append(absl::string_view(bytes).substr(0, 100));
  EXPECT_TRUE(Drain(decoder).empty());
  decoder.Append(absl::string_view(bytes).substr(100));
  std::vector<Frame> frames = Drain(decoder);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].payload().size(), payload.size());
  EXPECT_EQ(frames[1].kind(), Kind::kPing);
}

// The prefix of a frame whose payload is `payload_length` bytes, followed
// by nothing: what a slow (or hostile) sender has sent so far.
std::string PrefixDeclaring(uint32_t payload_length) {
  Prefix prefix;
  prefix.kind = Kind::kCall;
  prefix.payload_length = payload_length;
  std::string head(kPrefixBytes, '\0');
  EncodePrefix(prefix, head.data());
  return head;
}

TEST(FrameDecoderTest, DeclaredSizeReservesNothingUntilTheBytesArrive) {
  const uint32_t declared = 63 << 20;
  FrameDecoder decoder(Limits{});
  const size_t idle = decoder.reserved_bytes();
  decoder.Append(PrefixDeclaring(declared) + "abc");
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->has_value());
  EXPECT_TRUE(decoder.filling_large_frame());
  // One staging-sized buffer, not 63 MiB.
  EXPECT_LE(decoder.reserved_bytes(), idle + FrameDecoder::kStagingBytes);
  EXPECT_LE(decoder.WritableSpan().size(), FrameDecoder::kStagingBytes);
  EXPECT_LE(decoder.reserved_bytes(), idle + FrameDecoder::kStagingBytes);

  // As bytes arrive, what is held stays within twice what arrived.
  const std::string chunk(100000, 'x');
  for (int i = 0; i < 40; ++i) {
    decoder.Append(chunk);
    const size_t arrived = decoder.buffered_bytes();
    EXPECT_LE(decoder.reserved_bytes(),
              idle + std::max(2 * arrived, FrameDecoder::kStagingBytes))
        << arrived;
  }
  EXPECT_GE(decoder.reserved_bytes(), idle + decoder.buffered_bytes());
}

// Feeds `bytes` in chunks of the sizes in `chunks` (cycled), through
// Append() or through WritableSpan()/Commit(), draining after each; checks
// what is held against what arrived along the way.
std::vector<Frame> FeedInChunks(absl::string_view bytes, bool zero_copy) {
  static constexpr size_t kChunks[] = {1, 7, 4093, 65537, 300001, 13};
  FrameDecoder decoder(Limits{});
  const size_t idle = decoder.reserved_bytes();
  std::vector<Frame> frames;
  size_t offset = 0;
  size_t turn = 0;
  while (offset < bytes.size()) {
    size_t n =
        std::min(kChunks[turn++ % std::size(kChunks)], bytes.size() - offset);
    if (zero_copy) {
      absl::Span<char> span = decoder.WritableSpan();
      if (span.empty()) {
        for (Frame& f : Drain(decoder)) frames.push_back(std::move(f));
        continue;
      }
      n = std::min(n, span.size());
      std::memcpy(span.data(), bytes.data() + offset, n);
      decoder.Commit(n);
    } else {
      decoder.Append(bytes.substr(offset, n));
    }
    offset += n;
    for (Frame& f : Drain(decoder)) frames.push_back(std::move(f));
    EXPECT_LE(decoder.reserved_bytes(),
              idle +
                  std::max(2 * decoder.buffered_bytes(),
                           FrameDecoder::kStagingBytes) +
                  (zero_copy ? 0 : 300001))
        << offset;
  }
  for (Frame& f : Drain(decoder)) frames.push_back(std::move(f));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  return frames;
}

TEST(FrameDecoderTest, GrowingLargeFramesDecodeByteIdenticalInOddChunks) {
  std::string payload(5 * 1024 * 1024 + 13, '\0');
  uint32_t x = 12345;
  for (char& c : payload) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 16);
  }
  const std::string bytes = FrameBytes(Kind::kReply, 1, "hdr", payload) +
                            FrameBytes(Kind::kPing, 2, "", "") +
                            FrameBytes(Kind::kCall, 3, "h",
                                       absl::string_view(payload).substr(
                                           0, FrameDecoder::kStagingBytes + 1));
  for (bool zero_copy : {false, true}) {
    SCOPED_TRACE(zero_copy ? "WritableSpan/Commit" : "Append");
    std::vector<Frame> frames = FeedInChunks(bytes, zero_copy);
    ASSERT_EQ(frames.size(), 3u);
    std::string decoded;
    for (const Frame& f : frames)
      decoded.append(f.bytes().data(), f.bytes().size());
    EXPECT_TRUE(decoded == bytes);
    EXPECT_EQ(frames[0].payload().size(), payload.size());
    EXPECT_EQ(frames[2].request_id(), 3u);
  }
}

TEST(FrameDecoderTest, OversizedPayloadFailsBeforeTheBodyArrives) {
  Limits limits;
  limits.max_payload_bytes = 1024;
  FrameDecoder decoder(limits);
  Prefix prefix;
  prefix.kind = Kind::kCall;
  prefix.payload_length = 0xFFFFFFFF;
  std::string head(kPrefixBytes, '\0');
  EncodePrefix(prefix, head.data());
  decoder.Append(head);  // only the prefix: nothing else has been sent
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  EXPECT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(decoder.exceeded_limit(), "max_payload_bytes");
  EXPECT_EQ(decoder.exceeded_limit_value(), 1024u);
  // The decoder stays failed.
  EXPECT_EQ(decoder.Next().status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(FrameDecoderTest, OversizedHeaderAndTooManyFdsAreRefused) {
  Limits limits;
  limits.max_header_bytes = 16;
  FrameDecoder headers(limits);
  headers.Append(FrameBytes(Kind::kCall, 1, std::string(17, 'h'), ""));
  EXPECT_EQ(headers.Next().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(headers.exceeded_limit(), "max_header_bytes");

  FrameDecoder fds(Limits{});
  std::string bytes = FrameBytes(Kind::kCall, 1, "", "");
  bytes[kOffsetFdCount] = 1;
  fds.Append(bytes);
  EXPECT_EQ(fds.Next().status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(fds.exceeded_limit(), "max_fds_per_frame");
}

TEST(FrameDecoderTest, GarbageIsInvalidArgument) {
  FrameDecoder decoder(Limits{});
  decoder.Append(std::string(kPrefixBytes, 'G'));
  EXPECT_EQ(decoder.Next().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FrameDecoderTest, TruncatedFrameWaitsWithoutError) {
  std::string bytes = FrameBytes(Kind::kCall, 1, "header", "payload");
  FrameDecoder decoder(Limits{});
  decoder.Append(bytes.substr(0, bytes.size() - 1));
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  EXPECT_EQ(decoder.buffered_bytes(), bytes.size() - 1);
}

TEST(FrameDecoderTest, WrongVersionIsUnimplemented) {
  std::string bytes = FrameBytes(Kind::kHello, 1, "", "");
  bytes[kOffsetVersion] = 2;
  FrameDecoder decoder(Limits{});
  decoder.Append(bytes);
  EXPECT_EQ(decoder.Next().status().code(), absl::StatusCode::kUnimplemented);
}

TEST(FrameTest, HeaderParsesAndStampsRewriteTheEncodedBytes) {
  v1::Header header;
  header.mutable_call()->set_service("video.frames");
  Prefix prefix;
  prefix.kind = Kind::kCall;
  Frame frame = Frame::Build(prefix, header, "req");
  frame.set_sender(3, 4, 5);
  frame.set_request_id(77);
  absl::StatusOr<Prefix> reread = DecodePrefix(frame.bytes());
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->sender, 3u);
  EXPECT_EQ(reread->request_id, 77u);
  absl::StatusOr<v1::Header> parsed = frame.ParseHeader();
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->call().service(), "video.frames");
  EXPECT_EQ(frame.payload(), "req");
}

}  // namespace
}  // namespace switchboard::wire
