// SPDX-License-Identifier: MIT
#include "wire/publish_run.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame_decoder.h"

namespace switchboard::wire {
namespace {

std::string TopicHeader(absl::string_view topic) {
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  return header.SerializeAsString();
}

std::string Publish(absl::string_view topic, absl::string_view payload,
                    uint64_t request_id = 0, uint8_t fd_count = 0) {
  Prefix prefix;
  prefix.kind = Kind::kPublish;
  prefix.request_id = request_id;
  prefix.fd_count = fd_count;
  return std::string(Frame::Build(prefix, TopicHeader(topic), payload).bytes());
}

std::string Frames(Kind kind, absl::string_view header,
                   absl::string_view payload) {
  Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = kind == Kind::kPublish ? 0 : 1;
  return std::string(Frame::Build(prefix, header, payload).bytes());
}

// The frames Next() returns until it needs more bytes.
std::vector<Frame> DrainFrames(FrameDecoder& decoder) {
  std::vector<Frame> frames;
  while (true) {
    absl::StatusOr<std::optional<Frame>> next = decoder.Next();
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok() || !next->has_value()) return frames;
    frames.push_back(std::move(**next));
  }
}

TEST(PublishRunTest, AlikeSmallPublishesFormOneRun) {
  std::string bytes;
  for (int i = 0; i < 100; ++i) bytes += Publish("a.b", absl::StrCat("m", i));
  FrameDecoder decoder(Limits{});
  decoder.Append(bytes);
  std::optional<PublishRun> run = decoder.TakePublishRun();
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->count(), 100u);
  EXPECT_EQ(run->bytes(), bytes);
  EXPECT_EQ(run->header_bytes(), TopicHeader("a.b"));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  // Each frame can be read back on its own.
  size_t offset = 0;
  for (int i = 0; i < 100; ++i) {
    Frame frame = run->CopyFrame(offset);
    EXPECT_EQ(frame.kind(), Kind::kPublish);
    EXPECT_EQ(frame.payload(), absl::StrCat("m", i));
    EXPECT_EQ(PublishRun::FrameBytesAt(run->bytes().data() + offset),
              frame.bytes().size());
    offset += frame.bytes().size();
  }
  EXPECT_EQ(offset, bytes.size());
}

TEST(PublishRunTest, ARunEndsAtTheFirstFrameThatDiffers) {
  struct Case {
    const char* what;
    std::string breaker;
  };
  const std::vector<Case> cases = {
      {"another topic", Publish("a.c", "x")},
      {"a request id", Publish("a.b", "x", /*request_id=*/7)},
      {"descriptors", Publish("a.b", "x", 0, /*fd_count=*/1)},
      {"a large frame",
       Publish("a.b", std::string(PublishRun::kMaxFrameBytes, 'x'))},
      {"another kind", Frames(Kind::kPing, "", "")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string run_bytes = Publish("a.b", "1") + Publish("a.b", "2");
    Limits limits;
    limits.max_fds_per_frame = 4;
    FrameDecoder decoder(limits);
    decoder.Append(run_bytes + c.breaker + Publish("a.b", "3"));
    std::optional<PublishRun> run = decoder.TakePublishRun();
    ASSERT_TRUE(run.has_value());
    EXPECT_EQ(run->count(), 2u);
    EXPECT_EQ(run->bytes(), run_bytes);
    // The frame that ended the run comes out of Next(), then the rest.
    EXPECT_FALSE(decoder.TakePublishRun().has_value());
    std::vector<Frame> rest = DrainFrames(decoder);
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(rest[0].bytes(), c.breaker);
    EXPECT_EQ(rest[1].payload(), "3");
  }
}

TEST(PublishRunTest, AFlaggedPublishIsNotPartOfARun) {
  std::string flagged = Publish("a.b", "x");
  StampFlags(flagged.data(), kFlagMore);
  FrameDecoder decoder(Limits{});
  decoder.Append(Publish("a.b", "1") + flagged);
  EXPECT_FALSE(decoder.TakePublishRun().has_value());
  // Next() still sees both, and the flag (the router refuses it there).
  std::vector<Frame> frames = DrainFrames(decoder);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].prefix().flags, kFlagMore);
}

TEST(PublishRunTest, OneFrameOrAnIncompleteSecondIsNoRun) {
  const std::string second = Publish("a.b", "2");
  FrameDecoder decoder(Limits{});
  decoder.Append(Publish("a.b", "1") + second.substr(0, second.size() - 1));
  EXPECT_FALSE(decoder.TakePublishRun().has_value());
  std::vector<Frame> frames = DrainFrames(decoder);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].payload(), "1");
  decoder.Append(second.substr(second.size() - 1));
  EXPECT_FALSE(decoder.TakePublishRun().has_value());  // one frame only
  frames = DrainFrames(decoder);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].payload(), "2");
}

TEST(PublishRunTest, FramesOverTheLimitsAreLeftForNextToRefuse) {
  Limits limits;
  limits.max_payload_bytes = 4;
  FrameDecoder decoder(limits);
  decoder.Append(Publish("a.b", "1") + Publish("a.b", "2") +
                 Publish("a.b", "too long"));
  std::optional<PublishRun> run = decoder.TakePublishRun();
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->count(), 2u);
  absl::StatusOr<std::optional<Frame>> next = decoder.Next();
  EXPECT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(decoder.exceeded_limit(), "max_payload_bytes");
  EXPECT_FALSE(decoder.TakePublishRun().has_value());  // failed for good
}

TEST(PublishRunTest, StampMessagesMakesEveryFrameAMessageFromTheSender) {
  FrameDecoder decoder(Limits{});
  decoder.Append(Publish("a.b", "1") + Publish("a.b", "two") +
                 Publish("a.b", ""));
  std::optional<PublishRun> run = decoder.TakePublishRun();
  ASSERT_TRUE(run.has_value());
  run->StampMessages(42, 1000, 77, kFlagSenderAcceptsFds);
  size_t offset = 0;
  std::vector<std::string> payloads;
  while (offset < run->bytes().size()) {
    Frame frame = run->CopyFrame(offset);
    EXPECT_EQ(frame.kind(), Kind::kMessage);
    EXPECT_EQ(frame.prefix().sender, 42u);
    EXPECT_EQ(frame.prefix().sender_uid, 1000u);
    EXPECT_EQ(frame.prefix().sender_pid, 77u);
    EXPECT_EQ(frame.prefix().flags, kFlagSenderAcceptsFds);
    EXPECT_EQ(frame.request_id(), 0u);
    EXPECT_EQ(frame.header_bytes(), TopicHeader("a.b"));
    // Read without checks, the prefix is what DecodePrefix() makes of it.
    const char* at = run->bytes().data() + offset;
    absl::StatusOr<Prefix> decoded =
        DecodePrefix(absl::string_view(at, kPrefixBytes));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_TRUE(PublishRun::PrefixAt(at) == *decoded);
    payloads.emplace_back(frame.payload());
    offset += frame.bytes().size();
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"1", "two", ""}));
}

std::string Message(uint64_t subscription, uint64_t sender,
                    absl::string_view payload, uint16_t flags = 0) {
  Prefix prefix;
  prefix.kind = Kind::kMessage;
  prefix.request_id = subscription;
  prefix.sender = sender;
  prefix.flags = flags;
  return std::string(Frame::Build(prefix, TopicHeader("a.b"), payload).bytes());
}

TEST(PublishRunTest, MessagesForOneSubscriptionFormARunWhateverTheirSender) {
  const std::string run_bytes =
      Message(7, 1, "x") + Message(7, 2, "y") + Message(7, 1, "z");
  const std::vector<std::string> breakers = {
      Message(8, 1, "other subscription"),
      Message(7, 1, "other flags", kFlagSenderAcceptsFds),
      Publish("a.b", "a publish"),
  };
  for (const std::string& breaker : breakers) {
    FrameDecoder decoder(Limits{});
    decoder.Append(run_bytes + breaker);
    // A PUBLISH run is not taken from MESSAGE frames.
    EXPECT_FALSE(decoder.TakePublishRun().has_value());
    std::optional<PublishRun> run = decoder.TakePublishRun(Kind::kMessage);
    ASSERT_TRUE(run.has_value());
    EXPECT_EQ(run->count(), 3u);
    EXPECT_EQ(run->request_id(), 7u);
    EXPECT_EQ(run->bytes(), run_bytes);
    EXPECT_EQ(run->CopyFrame(0).prefix().sender, 1u);
    std::vector<Frame> rest = DrainFrames(decoder);
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].bytes(), breaker);
  }
}

TEST(PublishRunTest, ALargeFrameInProgressTakesNoRun) {
  FrameDecoder decoder(Limits{});
  const std::string large =
      Publish("a.b", std::string(FrameDecoder::kStagingBytes + 10, 'L'));
  decoder.Append(large.substr(0, 100));
  EXPECT_TRUE(DrainFrames(decoder).empty());
  EXPECT_TRUE(decoder.filling_large_frame());
  EXPECT_FALSE(decoder.TakePublishRun().has_value());
}

}  // namespace
}  // namespace switchboard::wire
