// SPDX-License-Identifier: MIT
//
// Malformed and forbidden topic and stream requests (docs/PROTOCOL.md 5.5,
// 7): what the client library refuses before sending, and what the broker
// answers when a raw connection sends them anyway: a REPLY with the error
// for a request, or one ERROR and the end of the connection for a frame no
// correct client sends. Every test ends by checking that a well-behaved
// subscriber and publisher that were connected all along still work.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/shared_buffer.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/message_log.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/topic_frames.h"
#include "tests/testing/transport.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::CallHeader;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::ConnectRaw;
using ::switchboard::testing::EncodeFrameWithFlags;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::MessageLog;
using ::switchboard::testing::PublishHeader;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::Request;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::SubscribeHeader;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::UnsubscribeHeader;
using ::testing::ElementsAre;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr int kMaxSubscriptions = 4;

int Code(absl::StatusCode code) { return static_cast<int>(code); }

const std::vector<std::string>& BadTopics() {
  static const auto* topics = new std::vector<std::string>{
      "",
      ".",
      "a.",
      ".a",
      "a..b",
      "a b",
      "a/b",
      "caf\xc3\xa9",
      "a.*",
      "*",
      ">",
      "a.>",
      std::string(256, 'a'),
  };
  return *topics;
}

const std::vector<std::string>& BadPatterns() {
  static const auto* patterns = new std::vector<std::string>{
      "",    ".",    "a.", ".a", "a..b", "a b", "a.>.b",
      ">.a", "a.b*", "*a", "a>", "a.>>", "**",  std::string(256, 'a'),
  };
  return *patterns;
}

class TopicBadInputTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    absl::StatusOr<std::string> token = broker_.ReadToken();
    ASSERT_THAT(token, IsOk());
    token_ = *token;
    subscriber_ = ConnectOrDie(broker_, "subscriber");
    absl::StatusOr<Subscription> fine =
        subscriber_->Subscribe("fine.>", log_.OnMessage());
    ASSERT_THAT(fine, IsOk());
    fine_ = *std::move(fine);
    publisher_ = ConnectOrDie(broker_, "publisher");
  }

  void TearDown() override {
    if (publisher_ == nullptr) return;  // SetUp failed
    EXPECT_THAT(publisher_->Publish("fine.still", Payload("still here")),
                IsOk());
    EXPECT_TRUE(log_.WaitForMessages(1, kTimeout));
    EXPECT_THAT(log_.Payloads(), ElementsAre("still here"));
  }

  absl::StatusOr<RawConnection> Raw() {
    return ConnectRaw(broker_.address(), token_);
  }

  BrokerProcess broker_{
      GetParam(), {absl::StrCat("--max-subscriptions=", kMaxSubscriptions)}};
  std::string token_;
  MessageLog log_;
  std::unique_ptr<Client> subscriber_;
  std::unique_ptr<Client> publisher_;
  Subscription fine_;  // subscriber_'s to fine.>, checked by TearDown()
};

TEST_P(TopicBadInputTest, LibraryRefusesMalformedTopics) {
  for (const std::string& topic : BadTopics()) {
    SCOPED_TRACE(absl::StrCat("topic \"", topic, "\""));
    EXPECT_THAT(publisher_->Publish(topic, Payload("x")),
                StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(publisher_->PublishConfirmed(topic, Payload("x")),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  // The longest topic allowed still goes through.
  EXPECT_THAT(publisher_->PublishConfirmed(std::string(255, 'a'), Payload("x")),
              IsOk());
  EXPECT_TRUE(publisher_->connected());
}

TEST_P(TopicBadInputTest, LibraryRefusesMalformedPatterns) {
  MessageLog log;
  for (const std::string& pattern : BadPatterns()) {
    SCOPED_TRACE(absl::StrCat("pattern \"", pattern, "\""));
    EXPECT_THAT(subscriber_->Subscribe(pattern, log.OnMessage()),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_THAT(subscriber_->Subscribe(std::string(255, 'a'), log.OnMessage()),
              IsOk());
}

TEST_P(TopicBadInputTest, LibraryRefusesPublishingOnReservedTopics) {
  for (absl::string_view topic :
       {"switchboard", "switchboard.connection.opened", "switchboard.x.y",
        "switchboard.name.video"}) {
    SCOPED_TRACE(topic);
    EXPECT_THAT(publisher_->Publish(topic, Payload("x")),
                StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(publisher_->PublishConfirmed(topic, Payload("x")),
                StatusIs(absl::StatusCode::kPermissionDenied));
  }
  // Only the first token is reserved.
  EXPECT_THAT(publisher_->PublishConfirmed("switchboardx.a", Payload("x")),
              IsOk());
  EXPECT_THAT(publisher_->PublishConfirmed("a.switchboard", Payload("x")),
              IsOk());
}

TEST_P(TopicBadInputTest, BrokerAnswersABadPatternWithInvalidArgument) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  uint64_t request = 1;
  for (const std::string& pattern : BadPatterns()) {
    SCOPED_TRACE(absl::StrCat("pattern \"", pattern, "\""));
    EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, request,
                        SubscribeHeader(request, pattern), kTimeout),
                IsOkAndHolds(StatusIs(absl::StatusCode::kInvalidArgument)));
    ++request;
  }
  // The connection stays usable.
  EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, request,
                      SubscribeHeader(request, "ok.*"), kTimeout),
              IsOkAndHolds(IsOk()));
}

TEST_P(TopicBadInputTest, BrokerAnswersAPublishOnABadTopicWithAReply) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  uint64_t request = 1;
  for (const std::string& topic : BadTopics()) {
    SCOPED_TRACE(absl::StrCat("topic \"", topic, "\""));
    EXPECT_THAT(Request(*raw, wire::Kind::kPublish, request++,
                        PublishHeader(topic), kTimeout),
                IsOkAndHolds(StatusIs(absl::StatusCode::kInvalidArgument)));
  }
  for (absl::string_view topic :
       {"switchboard", "switchboard.connection.closed"}) {
    SCOPED_TRACE(topic);
    EXPECT_THAT(Request(*raw, wire::Kind::kPublish, request++,
                        PublishHeader(topic), kTimeout),
                IsOkAndHolds(StatusIs(absl::StatusCode::kPermissionDenied)));
  }
  // A good topic still works on the same connection.
  EXPECT_THAT(Request(*raw, wire::Kind::kPublish, request++,
                      PublishHeader("other.raw"), kTimeout),
              IsOkAndHolds(IsOk()));
}

// A fire-and-forget PUBLISH the broker must refuse closes the connection.
TEST_P(TopicBadInputTest,
       PublishWithoutRequestIdOnABadTopicClosesTheConnection) {
  for (const std::string& topic : {std::string("a..b"), std::string("a.*")}) {
    SCOPED_TRACE(topic);
    absl::StatusOr<RawConnection> raw = Raw();
    ASSERT_THAT(raw, IsOk());
    ASSERT_THAT(raw->SendFrame(wire::Kind::kPublish, 0, PublishHeader(topic)),
                IsOk());
    absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
    ASSERT_THAT(error, IsOk());
    EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
  }
}

TEST_P(TopicBadInputTest, PublishWithoutRequestIdOnAReservedTopicClosesIt) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->SendFrame(wire::Kind::kPublish, 0,
                             PublishHeader("switchboard.connection.opened")),
              IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kPermissionDenied));
}

TEST_P(TopicBadInputTest, MessageFromAClientClosesTheConnection) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->SendFrame(wire::Kind::kMessage, 1, PublishHeader("fine.x"),
                             "forged"),
              IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(TopicBadInputTest, MoreFlagOnACallClosesTheConnection) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->Send(EncodeFrameWithFlags(
                  wire::Kind::kCall, wire::kFlagMore, 1,
                  CallHeader("switchboard.Broker", "GetStatus", kTimeout))),
              IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(TopicBadInputTest, MoreFlagOnAPublishClosesTheConnection) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(
      raw->Send(EncodeFrameWithFlags(wire::Kind::kPublish, wire::kFlagMore, 0,
                                     PublishHeader("fine.x"))),
      IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(TopicBadInputTest, SubscribeHeaderThatIsNotASubscribeClosesIt) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->SendFrame(wire::Kind::kSubscribe, 1, PublishHeader("a.b")),
              IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

// Of the topic kinds only PUBLISH may carry descriptors (docs/PROTOCOL.md
// 2.5, 5.5). Descriptors travel only over Unix sockets.
class TopicDescriptorInputTest : public TopicBadInputTest {};

TEST_P(TopicDescriptorInputTest, DescriptorsOnASubscribeCloseTheConnection) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(64, "bad-input");
  ASSERT_THAT(buffer, IsOk());
  ASSERT_THAT(buffer->Seal(SharedBuffer::Sealing::kImmutable), IsOk());
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  std::string frame = testing::EncodeFrame(wire::Kind::kSubscribe, 1,
                                           SubscribeHeader(1, "fine.>"));
  frame[wire::kOffsetFdCount] = 1;
  const int fds[] = {buffer->fd()};
  ASSERT_THAT(raw->SendWithFds(frame, fds), IsOk());
  absl::StatusOr<v1::Error> error = raw->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(TopicBadInputTest, SubscriptionIdZeroOrInUseIsInvalid) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, 1,
                      SubscribeHeader(0, "a.b"), kTimeout),
              IsOkAndHolds(StatusIs(absl::StatusCode::kInvalidArgument)));
  EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, 2,
                      SubscribeHeader(7, "a.b"), kTimeout),
              IsOkAndHolds(IsOk()));
  // Same id, even with another pattern.
  EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, 3,
                      SubscribeHeader(7, "c.d"), kTimeout),
              IsOkAndHolds(StatusIs(absl::StatusCode::kInvalidArgument)));
  // Once it ended, the id is free again.
  EXPECT_THAT(Request(*raw, wire::Kind::kUnsubscribe, 4, UnsubscribeHeader(7),
                      kTimeout),
              IsOkAndHolds(IsOk()));
  EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, 5,
                      SubscribeHeader(7, "c.d"), kTimeout),
              IsOkAndHolds(IsOk()));
}

TEST_P(TopicBadInputTest, SubscribeWithRequestIdZeroIsInvalid) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, 0,
                      SubscribeHeader(1, "a.b"), kTimeout),
              IsOkAndHolds(StatusIs(absl::StatusCode::kInvalidArgument)));
}

TEST_P(TopicBadInputTest, UnsubscribeUnknownIsNotFound) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  EXPECT_THAT(Request(*raw, wire::Kind::kUnsubscribe, 1, UnsubscribeHeader(99),
                      kTimeout),
              IsOkAndHolds(StatusIs(absl::StatusCode::kNotFound)));
  // Another connection's subscription is not this one's to end.
  absl::StatusOr<RawConnection> other = Raw();
  ASSERT_THAT(other, IsOk());
  ASSERT_THAT(Request(*other, wire::Kind::kSubscribe, 1,
                      SubscribeHeader(5, "a.b"), kTimeout),
              IsOkAndHolds(IsOk()));
  EXPECT_THAT(Request(*raw, wire::Kind::kUnsubscribe, 2, UnsubscribeHeader(5),
                      kTimeout),
              IsOkAndHolds(StatusIs(absl::StatusCode::kNotFound)));
  EXPECT_THAT(subscriber_->Unsubscribe(123456),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(TopicBadInputTest, TooManySubscriptionsIsResourceExhausted) {
  absl::StatusOr<RawConnection> raw = Raw();
  ASSERT_THAT(raw, IsOk());
  for (uint64_t id = 1; id <= kMaxSubscriptions; ++id) {
    ASSERT_THAT(Request(*raw, wire::Kind::kSubscribe, id,
                        SubscribeHeader(id, "many.*"), kTimeout),
                IsOkAndHolds(IsOk()));
  }
  EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, 100,
                      SubscribeHeader(100, "many.*"), kTimeout),
              IsOkAndHolds(StatusIs(absl::StatusCode::kResourceExhausted)));
  // The limit is per connection, and freed by UNSUBSCRIBE.
  ASSERT_THAT(Request(*raw, wire::Kind::kUnsubscribe, 101, UnsubscribeHeader(1),
                      kTimeout),
              IsOkAndHolds(IsOk()));
  EXPECT_THAT(Request(*raw, wire::Kind::kSubscribe, 102,
                      SubscribeHeader(102, "many.*"), kTimeout),
              IsOkAndHolds(IsOk()));

  // Through the library: the fixture's subscriber already has one.
  MessageLog log;
  std::vector<Subscription> kept;  // each one counts while its handle lives
  for (int i = 1; i < kMaxSubscriptions; ++i) {
    absl::StatusOr<Subscription> subscription =
        subscriber_->Subscribe("lib.many", log.OnMessage());
    ASSERT_THAT(subscription, IsOk());
    kept.push_back(*std::move(subscription));
  }
  EXPECT_THAT(subscriber_->Subscribe("lib.many", log.OnMessage()),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

INSTANTIATE_TEST_SUITE_P(AllTransports, TopicBadInputTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);
INSTANTIATE_TEST_SUITE_P(Unix, TopicDescriptorInputTest,
                         ::testing::Values(Transport::kUnix),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
