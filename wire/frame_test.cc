// SPDX-License-Identifier: MIT
#include "wire/frame.h"

#include <string>

#include "gtest/gtest.h"

namespace switchboard::wire {
namespace {

std::string PublishHeader(absl::string_view topic,
                          absl::string_view type = "") {
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  header.mutable_publish()->set_message_type(std::string(type));
  header.add_inline_buffer_sizes(7);
  return header.SerializeAsString();
}

TEST(ReadPublishTopicTest, ReadsTheTopicAsAFullParseWould) {
  for (absl::string_view topic :
       {"a", "video.events.clip_loaded", "x.y.z", ""}) {
    const std::string bytes = PublishHeader(topic, "demo.Type");
    absl::StatusOr<absl::string_view> read = ReadPublishTopic(bytes);
    ASSERT_TRUE(read.ok()) << read.status();
    v1::Header parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    EXPECT_EQ(*read, parsed.publish().topic());
  }
}

TEST(ReadPublishTopicTest, PlainHeadersReadAsAFullParseWould) {
  // The header the library writes (the publish body alone), with topics
  // whose lengths take one varint byte and more, with and without a type,
  // whole and cut short.
  for (const std::string& topic :
       {std::string("a"), std::string("video.events.clip_loaded"),
        std::string(127, 't'), std::string(128, 't'), std::string(300, 't')}) {
    for (absl::string_view type : {"", "demo.Type"}) {
      v1::Header header;
      header.mutable_publish()->set_topic(topic);
      header.mutable_publish()->set_message_type(std::string(type));
      const std::string bytes = header.SerializeAsString();
      absl::StatusOr<absl::string_view> read = ReadPublishTopic(bytes);
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_EQ(*read, topic);
      absl::string_view plain_topic, plain_type;
      if (ReadPlainPublish(bytes, plain_topic, plain_type)) {
        EXPECT_EQ(plain_topic, topic);
        EXPECT_EQ(plain_type, type);
      } else {
        // Only a length over one varint byte (the body's, here) leaves
        // the plain shape.
        const size_t body =
            2 + topic.size() + (type.empty() ? 0 : 2 + type.size());
        EXPECT_GT(body, 127u);
      }
      for (size_t cut = 0; cut < bytes.size(); ++cut) {
        v1::Header parsed;
        const bool parses = parsed.ParseFromString(bytes.substr(0, cut)) &&
                            parsed.body_case() == v1::Header::kPublish;
        absl::StatusOr<absl::string_view> part =
            ReadPublishTopic(bytes.substr(0, cut));
        ASSERT_EQ(part.ok(), parses) << cut;
        if (parses) {
          EXPECT_EQ(*part, parsed.publish().topic()) << cut;
        }
      }
    }
  }
}

TEST(ReadPlainPublishTest, OtherShapesAreLeftToAFullParse) {
  absl::string_view topic = "kept", type = "kept";
  // Inline buffer sizes, two bodies, an empty topic, garbage, a cut header.
  for (const std::string& bytes :
       {PublishHeader("a.b", "T"), PublishHeader("a") + PublishHeader("b"),
        PublishHeader(""), std::string("\x62\x05\x0a\x09"),
        std::string("\x62\x03\x0a\x01\x61\x12", 6)}) {
    EXPECT_FALSE(ReadPlainPublish(bytes, topic, type));
  }
  EXPECT_EQ(topic, "kept");
  EXPECT_EQ(type, "kept");
}

TEST(ReadPublishTopicTest, LastOccurrenceWinsAndBodiesSwitch) {
  // Two publish bodies: protobuf merges them, the later topic wins.
  std::string merged = PublishHeader("first") + PublishHeader("second");
  absl::StatusOr<absl::string_view> read = ReadPublishTopic(merged);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "second");

  // A call body after the publish body: the header holds a call.
  v1::Header call;
  call.mutable_call()->set_service("a.b");
  EXPECT_FALSE(
      ReadPublishTopic(PublishHeader("t") + call.SerializeAsString()).ok());
  // And a publish after a call holds only the later publish's fields.
  v1::Header only_type;
  only_type.mutable_publish()->set_message_type("x.Y");
  read = ReadPublishTopic(PublishHeader("t") + call.SerializeAsString() +
                          only_type.SerializeAsString());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
}

// Issue 12: found by names_topics_fuzz. A body field with another wire
// type is an unknown field to protobuf, which keeps the publish body; the
// reader refused the header.
TEST(ReadPublishTopicTest, Issue12BodyFieldOfAnotherWireTypeIsSkipped) {
  // Field 10 (subscribe) as a fixed32, then field 5 as a varint.
  const std::string header =
      PublishHeader("a.b") + std::string("\x55\x01\x02\x03\x04\x28\x07", 7);
  v1::Header parsed;
  ASSERT_TRUE(parsed.ParseFromString(header));
  ASSERT_EQ(parsed.body_case(), v1::Header::kPublish);
  absl::StatusOr<absl::string_view> read = ReadPublishTopic(header);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "a.b");
}

TEST(ReadPublishTopicTest, RefusesOtherBodiesAndGarbage) {
  EXPECT_FALSE(ReadPublishTopic("").ok());
  v1::Header reply;
  reply.mutable_reply()->set_code(3);
  EXPECT_FALSE(ReadPublishTopic(reply.SerializeAsString()).ok());
  const std::string good = PublishHeader("a.b");
  for (size_t cut = 1; cut < good.size(); ++cut) {
    // Every truncation that protobuf refuses, we refuse.
    v1::Header parsed;
    const bool parses = parsed.ParseFromString(good.substr(0, cut)) &&
                        parsed.body_case() == v1::Header::kPublish;
    EXPECT_EQ(ReadPublishTopic(good.substr(0, cut)).ok(), parses) << cut;
  }
  EXPECT_FALSE(ReadPublishTopic("\x62\x05\x0a\x09").ok());
  // Field 12 with the wrong wire type.
  EXPECT_FALSE(ReadPublishTopic(std::string("\x60\x01", 2)).ok());
}

}  // namespace
}  // namespace switchboard::wire
