// SPDX-License-Identifier: MIT
//
// TopicRouter, through the router's entry points: SUBSCRIBE, UNSUBSCRIBE,
// PUBLISH, the shared fan-out, the overflow policies and their drop reports,
// and what the broker publishes on switchboard.> (docs/PROTOCOL.md 5.5, 6.2).
#include "daemon/core/topic_router.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "daemon/core/frames.h"
#include "daemon/core/router.h"
#include "daemon/core/router_test_fixture.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"
#include "wire/frame_decoder.h"
#include "wire/publish_run.h"

namespace switchboard::core {
namespace {

wire::Frame Subscribe(
    uint64_t request_id, uint64_t subscription_id, absl::string_view pattern,
    uint32_t max_messages = 0, uint64_t max_bytes = 0,
    v1::OverflowPolicy policy = v1::OVERFLOW_POLICY_UNSPECIFIED) {
  v1::Header header;
  v1::Subscribe* subscribe = header.mutable_subscribe();
  subscribe->set_subscription_id(subscription_id);
  subscribe->set_pattern(std::string(pattern));
  subscribe->set_max_messages(max_messages);
  subscribe->set_max_bytes(max_bytes);
  subscribe->set_policy(policy);
  return FrameOf(wire::Kind::kSubscribe, request_id, &header);
}

wire::Frame Unsubscribe(uint64_t request_id, uint64_t subscription_id) {
  v1::Header header;
  header.mutable_unsubscribe()->set_subscription_id(subscription_id);
  return FrameOf(wire::Kind::kUnsubscribe, request_id, &header);
}

wire::Frame Publish(uint64_t request_id, absl::string_view topic,
                    absl::string_view payload = "m") {
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  header.mutable_publish()->set_message_type("demo.Note");
  return FrameOf(wire::Kind::kPublish, request_id, &header, payload);
}

// "tag0", "tag1", ...: `count` payloads, each padded with '.' to `size`
// bytes if given.
std::vector<std::string> Numbered(absl::string_view tag, int count,
                                  size_t size = 0) {
  std::vector<std::string> payloads;
  for (int i = 0; i < count; ++i) {
    std::string payload = absl::StrCat(tag, i);
    if (payload.size() < size) payload.resize(size, '.');
    payloads.push_back(std::move(payload));
  }
  return payloads;
}

// `frames` back to back, as one read brings them, taken by the decoder as
// one run (wire/publish_run.h).
wire::PublishRun RunOf(const std::vector<wire::Frame>& frames) {
  std::string bytes;
  for (const wire::Frame& frame : frames) {
    absl::StrAppend(&bytes, frame.bytes());
  }
  wire::FrameDecoder decoder(wire::Limits{});
  decoder.Append(bytes);
  std::optional<wire::PublishRun> run = decoder.TakePublishRun();
  SB_CHECK(run.has_value() && run->count() == frames.size())
      << "the frames do not form one run";
  return *std::move(run);
}

// The PUBLISH frames of `payloads` on `topic` as one run.
wire::PublishRun RunOf(absl::string_view topic,
                       const std::vector<std::string>& payloads) {
  std::vector<wire::Frame> frames;
  for (const std::string& payload : payloads) {
    frames.push_back(Publish(0, topic, payload));
  }
  return RunOf(frames);
}

wire::Frame MonitorCall(uint64_t id, uint32_t credit) {
  v1::Header header;
  header.mutable_call()->set_service(std::string(kBrokerService));
  header.mutable_call()->set_method(std::string(kMonitorMethod));
  header.mutable_call()->mutable_stream()->set_initial_credit(credit);
  return FrameOf(wire::Kind::kCall, id, &header,
                 v1::MonitorRequest().SerializeAsString());
}

class TopicRouterTest : public RouterTest {
 protected:
  // Subscribes and expects code 0; returns the limits in force.
  v1::SubscribeResult SubscribeOk(
      const Peer& peer, uint64_t subscription_id, absl::string_view pattern,
      uint32_t max_messages = 0, uint64_t max_bytes = 0,
      v1::OverflowPolicy policy = v1::OVERFLOW_POLICY_UNSPECIFIED) {
    Handle(peer, Subscribe(100 + subscription_id, subscription_id, pattern,
                           max_messages, max_bytes, policy));
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    v1::SubscribeResult result;
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) return result;
    EXPECT_TRUE(ReplyStatus(sent[0].frame).ok()) << ReplyStatus(sent[0].frame);
    EXPECT_TRUE(result.ParseFromString(std::string(sent[0].frame.payload())));
    return result;
  }

  // Publishes with a request id and returns the PublishResult.
  v1::PublishResult PublishOk(const Peer& from, absl::string_view topic,
                              absl::string_view payload = "m") {
    Handle(from, Publish(77, topic, payload));
    v1::PublishResult result;
    auto reply = std::find_if(outbox_.sent.begin(), outbox_.sent.end(),
                              [&](const FakeOutbox::Sent& s) {
                                return s.to == from.id &&
                                       s.frame.kind() == wire::Kind::kReply &&
                                       s.frame.request_id() == 77;
                              });
    EXPECT_NE(reply, outbox_.sent.end());
    if (reply == outbox_.sent.end()) return result;
    EXPECT_TRUE(ReplyStatus(reply->frame).ok()) << ReplyStatus(reply->frame);
    EXPECT_TRUE(result.ParseFromString(std::string(reply->frame.payload())));
    outbox_.sent.erase(reply);
    return result;
  }

  // Everything queued for `session`, in order, in short words: "M1:x" a
  // MESSAGE for subscription 1 with payload x, "D1:2/5" messages_dropped
  // for subscription 1 (count 2, total 5), "R7" a REPLY, else the kind.
  std::vector<std::string> Timeline(SessionId session) const {
    return TimelineOf(outbox_, session);
  }
  static std::vector<std::string> TimelineOf(const FakeOutbox& outbox,
                                             SessionId session) {
    std::vector<std::pair<uint64_t, std::string>> items;
    for (const FakeOutbox::Message& m : outbox.messages) {
      if (m.to != session) continue;
      items.emplace_back(
          m.seq, absl::StrCat("M", m.subscription, ":", m.frame->payload()));
    }
    for (const FakeOutbox::Sent& s : outbox.sent) {
      if (s.to != session) continue;
      std::string text = wire::KindName(s.frame.kind());
      if (s.frame.kind() == wire::Kind::kReply) {
        text = absl::StrCat("R", s.frame.request_id());
      } else if (s.frame.kind() == wire::Kind::kEvent) {
        absl::StatusOr<v1::Header> header = s.frame.ParseHeader();
        if (header.ok() && header->event().has_messages_dropped()) {
          const auto& d = header->event().messages_dropped();
          text = absl::StrCat("D", d.subscription_id(), ":", d.count(), "/",
                              d.total());
        }
      }
      items.emplace_back(s.seq, std::move(text));
    }
    std::sort(items.begin(), items.end());
    std::vector<std::string> out;
    for (auto& [seq, text] : items) out.push_back(std::move(text));
    return out;
  }

  // The payloads queued for one subscription.
  std::vector<std::string> QueuedPayloads(SessionId session,
                                          uint64_t subscription) const {
    std::vector<std::string> payloads;
    for (const auto& m : outbox_.QueueOf(session, subscription)) {
      payloads.emplace_back(m->payload());
    }
    return payloads;
  }

  void Clear() {
    outbox_.Take();
    outbox_.TakeMessages();
  }
};

using Strings = std::vector<std::string>;

TEST_F(TopicRouterTest, SubscribeAnswersTheLimitsInForce) {
  v1::SubscribeResult result = SubscribeOk(kCaller, 1, "video.>");
  EXPECT_EQ(result.max_messages(), 1024u);  // the default
  // The default bytes are over this broker's max_queued_bytes (1000).
  EXPECT_EQ(result.max_bytes(), 1000u);
  EXPECT_EQ(result.policy(), v1::OVERFLOW_POLICY_DROP_OLDEST);

  result =
      SubscribeOk(kCaller, 2, "a", 1 << 30, 50, v1::OVERFLOW_POLICY_DISCONNECT);
  EXPECT_EQ(result.max_messages(), 65536u);
  EXPECT_EQ(result.max_bytes(), 50u);
  EXPECT_EQ(result.policy(), v1::OVERFLOW_POLICY_DISCONNECT);
  EXPECT_EQ(router_.stats().subscribes, 2u);
}

TEST_F(TopicRouterTest, BadSubscribesAreAnsweredWithTheirError) {
  SubscribeOk(kCaller, 1, "a");
  Handle(kCaller, Subscribe(5, 0, "a"));
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kInvalidArgument);
  Handle(kCaller, Subscribe(5, 1, "b"));  // id in use
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kInvalidArgument);
  Handle(kCaller, Subscribe(5, 2, "a.>.b"));
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kInvalidArgument);
  Handle(kCaller, Subscribe(0, 2, "a"));  // a request needs an id
  ExpectAnswer(kCaller.id, 0, absl::StatusCode::kInvalidArgument);
  for (uint64_t id = 2; id <= 4; ++id) SubscribeOk(kCaller, id, "a");
  Handle(kCaller, Subscribe(5, 5, "a"));  // max_subscriptions is 4
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kResourceExhausted);
  // A malformed SUBSCRIBE header closes the session.
  Handle(kThird, FrameOf(wire::Kind::kSubscribe, 1, nullptr, ""));
  ASSERT_EQ(outbox_.closed.size(), 1u);
  EXPECT_EQ(outbox_.closed[0].session, kThird.id);
}

TEST_F(TopicRouterTest, UnsubscribeEndsDeliveryAndUnknownIdsAreNotFound) {
  SubscribeOk(kCaller, 1, "a.*");
  PublishOk(kThird, "a.b");
  EXPECT_EQ(outbox_.TakeMessages().size(), 1u);
  Handle(kCaller, Unsubscribe(9, 1));
  ExpectAnswer(kCaller.id, 9, absl::StatusCode::kOk);
  EXPECT_EQ(PublishOk(kThird, "a.b").delivered(), 0u);
  EXPECT_TRUE(outbox_.TakeMessages().empty());
  Handle(kCaller, Unsubscribe(9, 1));
  ExpectAnswer(kCaller.id, 9, absl::StatusCode::kNotFound);
  EXPECT_EQ(router_.subscriptions().size(), 0u);
}

TEST_F(TopicRouterTest, OnePublishIsSharedByEveryMatchingSubscription) {
  SubscribeOk(kCaller, 1, "video.*");
  SubscribeOk(kCaller, 2, "video.>");  // the same session, twice
  SubscribeOk(kCallee, 7, ">");
  SubscribeOk(kCallee, 8, "audio.>");  // no match
  wire::Frame publish = Publish(0, "video.clip", "frame-bytes");
  const std::string header_bytes(publish.header_bytes());
  const char* payload_bytes = publish.payload().data();
  Handle(kThird, std::move(publish));
  EXPECT_TRUE(outbox_.sent.empty());  // no request id, no reply
  std::vector<FakeOutbox::Message> messages = outbox_.TakeMessages();
  ASSERT_EQ(messages.size(), 3u);
  for (const FakeOutbox::Message& m : messages) {
    EXPECT_EQ(m.frame.get(), messages[0].frame.get());  // one frame object
  }
  const wire::Frame& message = *messages[0].frame;
  EXPECT_EQ(message.payload().data(), payload_bytes);  // not even copied
  EXPECT_EQ(message.kind(), wire::Kind::kMessage);
  EXPECT_EQ(message.header_bytes(), header_bytes);
  EXPECT_EQ(message.prefix().sender, kThird.id.value());
  EXPECT_EQ(message.prefix().sender_uid, kThird.uid);
  EXPECT_EQ(message.prefix().sender_pid, kThird.pid);
  absl::StatusOr<wire::Prefix> reread = wire::DecodePrefix(message.bytes());
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->kind, wire::Kind::kMessage);
  EXPECT_EQ(reread->sender, kThird.id.value());
  std::vector<std::pair<SessionId, uint64_t>> targets;
  for (const auto& m : messages) targets.emplace_back(m.to, m.subscription);
  std::sort(targets.begin(), targets.end());
  EXPECT_EQ(targets, (std::vector<std::pair<SessionId, uint64_t>>{
                         {kCaller.id, 1}, {kCaller.id, 2}, {kCallee.id, 7}}));
  EXPECT_EQ(router_.stats().publishes, 1u);
  EXPECT_EQ(router_.stats().messages_delivered, 3u);
}

TEST_F(TopicRouterTest, PublishWithARequestIdIsAnsweredWithTheCounts) {
  SubscribeOk(kCaller, 1, "a", 1, 0, v1::OVERFLOW_POLICY_DROP_NEWEST);
  SubscribeOk(kCallee, 1, "a");
  v1::PublishResult result = PublishOk(kThird, "a");
  EXPECT_EQ(result.delivered(), 2u);
  EXPECT_EQ(result.dropped(), 0u);
  result = PublishOk(kThird, "a");  // kCaller's queue holds one already
  EXPECT_EQ(result.delivered(), 1u);
  EXPECT_EQ(result.dropped(), 1u);
  EXPECT_EQ(PublishOk(kThird, "nobody.listens").delivered(), 0u);
}

TEST_F(TopicRouterTest, MalformedAndReservedTopicsAreRefusedBothWays) {
  SubscribeOk(kCaller, 1, ">");
  Handle(kThird, Publish(5, "switchboard.connection.opened"));
  ExpectAnswer(kThird.id, 5, absl::StatusCode::kPermissionDenied);
  Handle(kThird, Publish(6, "a..b"));
  ExpectAnswer(kThird.id, 6, absl::StatusCode::kInvalidArgument);
  Handle(kThird, Publish(7, "a.*"));
  ExpectAnswer(kThird.id, 7, absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(outbox_.closed.empty());
  EXPECT_TRUE(outbox_.messages.empty());

  // Without a request id the session is closed with that code.
  Handle(kThird, Publish(0, "switchboard.name.x"));
  Handle(kCallee, Publish(0, "bad topic"));
  ASSERT_EQ(outbox_.closed.size(), 2u);
  EXPECT_EQ(outbox_.closed[0].session, kThird.id);
  EXPECT_EQ(outbox_.closed[0].reason.code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(outbox_.closed[0].with_error);
  EXPECT_EQ(outbox_.closed[1].session, kCallee.id);
  EXPECT_EQ(outbox_.closed[1].reason.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(outbox_.messages.empty());
  EXPECT_EQ(router_.stats().publishes_refused, 5u);

  // A header without a publish body is a protocol error.
  v1::Header wrong;
  wrong.mutable_unsubscribe()->set_subscription_id(1);
  Handle(kCaller, FrameOf(wire::Kind::kPublish, 8, &wrong));
  ASSERT_EQ(outbox_.closed.size(), 3u);
  EXPECT_EQ(outbox_.closed[2].reason.code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TopicRouterTest, DropOldestKeepsTheNewestAndReportsBeforeTheNext) {
  SubscribeOk(kCaller, 1, "t", 2);
  for (const char* payload : {"1", "2", "3", "4", "5"}) {
    Handle(kThird, Publish(0, "t", payload));
  }
  // Each message after the second pushed the oldest out. The first drop's
  // report, still unwritten, took the later drops too: one report, before
  // the messages the subscriber still gets.
  EXPECT_EQ(Timeline(kCaller.id),
            (Strings{"M1:1", "M1:2", "D1:3/3", "M1:3", "M1:4", "M1:5"}));
  EXPECT_EQ(QueuedPayloads(kCaller.id, 1), (Strings{"4", "5"}));
  EXPECT_EQ(router_.stats().messages_dropped, 3u);
  v1::BrokerStatus status = router_.Status(kT0);
  ASSERT_EQ(status.subscriptions_size(), 1);
  EXPECT_EQ(status.subscriptions(0).dropped(), 3u);
  EXPECT_EQ(status.subscriptions(0).delivered(), 2u);

  // Once written, the queue takes new messages without dropping, and the
  // next drop is reported anew: a written report is never changed.
  Clear();
  outbox_.Write(kCaller.id);
  Handle(kThird, Publish(0, "t", "6"));
  EXPECT_EQ(Timeline(kCaller.id), (Strings{"M1:6"}));
  Handle(kThird, Publish(0, "t", "7"));
  Handle(kThird, Publish(0, "t", "8"));
  EXPECT_EQ(Timeline(kCaller.id), (Strings{"M1:6", "M1:7", "D1:1/4", "M1:8"}));
  EXPECT_EQ(QueuedPayloads(kCaller.id, 1), (Strings{"7", "8"}));
  // Three drops before the write, one after.
  EXPECT_EQ(router_.stats().messages_dropped, 4u);
}

TEST_F(TopicRouterTest, AStalledDropOldestSubscriberGetsOneReportPerStall) {
  SubscribeOk(kCaller, 1, "t", 3);
  SubscribeOk(kCaller, 2, "t", 3);
  const uint64_t frames_before = router_.stats().frames_out;
  for (int i = 0; i < 1000; ++i) {
    Handle(kThird, Publish(0, "t", absl::StrCat(i)));
  }
  // Each subscription has its three newest and one report of the 997
  // drops; the reports never took the room of the messages kept.
  EXPECT_EQ(QueuedPayloads(kCaller.id, 1), (Strings{"997", "998", "999"}));
  EXPECT_EQ(QueuedPayloads(kCaller.id, 2), (Strings{"997", "998", "999"}));
  std::vector<std::string> reports;
  for (const std::string& item : Timeline(kCaller.id)) {
    if (item[0] == 'D') reports.push_back(item);
  }
  EXPECT_EQ(reports, (Strings{"D1:997/997", "D2:997/997"}));
  EXPECT_EQ(router_.stats().messages_dropped, 2u * 997u);
  // 2000 messages and 2 reports queued.
  EXPECT_EQ(router_.stats().frames_out - frames_before, 2u * 1000u + 2u);
}

TEST_F(TopicRouterTest, DropNewestKeepsTheQueueAndReportsWhenOneFits) {
  SubscribeOk(kCaller, 1, "t", 2, 0, v1::OVERFLOW_POLICY_DROP_NEWEST);
  SubscribeOk(kCallee, 1, "t");  // unaffected by kCaller's queue
  for (const char* payload : {"1", "2", "3", "4", "5"}) {
    Handle(kThird, Publish(0, "t", payload));
  }
  EXPECT_EQ(Timeline(kCaller.id), (Strings{"M1:1", "M1:2"}));
  EXPECT_EQ(Timeline(kCallee.id).size(), 5u);
  Clear();
  outbox_.Write(kCaller.id);
  Handle(kThird, Publish(0, "t", "6"));
  Handle(kThird, Publish(0, "t", "7"));
  EXPECT_EQ(Timeline(kCaller.id), (Strings{"D1:3/3", "M1:6", "M1:7"}));
  EXPECT_EQ(router_.stats().messages_dropped, 3u);
}

TEST_F(TopicRouterTest, AFullSubscriptionIsWrittenOutBeforeAnythingDrops) {
  SubscribeOk(kCaller, 1, "t", 2, 0, v1::OVERFLOW_POLICY_DROP_NEWEST);
  // A subscriber whose socket takes what is queued loses nothing, however
  // many messages one read of the publisher brings.
  outbox_.write_now_drains = true;
  for (int i = 0; i < 10; ++i) Handle(kThird, Publish(0, "t", "x"));
  EXPECT_EQ(router_.stats().messages_dropped, 0u);
  EXPECT_EQ(outbox_.writes_now[kCaller.id], 4);  // at messages 3, 5, 7, 9
  // One that takes nothing is written to once per message that overflows,
  // then the policy applies.
  outbox_.write_now_drains = false;
  outbox_.writes_now.clear();
  for (int i = 0; i < 3; ++i) Handle(kThird, Publish(0, "t", "x"));
  EXPECT_EQ(outbox_.writes_now[kCaller.id], 3);
  EXPECT_EQ(router_.stats().messages_dropped, 3u);
}

TEST_F(TopicRouterTest, ByteLimitsCountWholeFramesAndAnEmptyQueueTakesAny) {
  const size_t frame_bytes = [&] {
    SubscribeOk(kCallee, 1, "t");
    Handle(kThird, Publish(0, "t", "0123456789"));
    const size_t bytes = outbox_.TakeMessages()[0].frame->bytes().size();
    return bytes;
  }();
  // Room for two frames but not three.
  SubscribeOk(kCaller, 1, "t", 0, 2 * frame_bytes + frame_bytes / 2,
              v1::OVERFLOW_POLICY_DROP_NEWEST);
  for (int i = 0; i < 3; ++i) Handle(kThird, Publish(0, "t", "0123456789"));
  EXPECT_EQ(outbox_.QueueOf(kCaller.id, 1).size(), 2u);
  // A subscription whose limit is below one frame still gets one at a time.
  SubscribeOk(kCaller, 2, "u", 0, 1, v1::OVERFLOW_POLICY_DROP_NEWEST);
  Handle(kThird, Publish(0, "u", "0123456789"));
  Handle(kThird, Publish(0, "u", "0123456789"));
  EXPECT_EQ(outbox_.QueueOf(kCaller.id, 2).size(), 1u);
}

TEST_F(TopicRouterTest, TheConnectionsByteQuotaAlsoBounds) {
  SubscribeOk(kCaller, 1, "t");
  outbox_.queued[kCaller.id] = 990;  // other output, e.g. a large reply
  Handle(kThird, Publish(0, "t", "x"));
  EXPECT_TRUE(outbox_.messages.empty());  // nothing of its own to discard
  outbox_.queued[kCaller.id] = 0;
  Handle(kThird, Publish(0, "t", "y"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  const v1::Event::MessagesDropped dropped =
      sent[0].frame.ParseHeader()->event().messages_dropped();
  EXPECT_EQ(dropped.count(), 1u);
  EXPECT_NE(dropped.reason().find("connection's output queue"),
            std::string::npos)
      << dropped.reason();
}

TEST_F(TopicRouterTest, TheSubscribersUidQuotaBoundsAndIsNamedInTheReport) {
  SubscribeOk(kCaller, 1, "t");
  SubscribeOk(kCallee, 1, "t");
  // kCaller's uid holds its quota of unread output (on other connections,
  // say): its messages are dropped and reported; kCallee's are not.
  outbox_.uid_room[kCaller.id] = absl::ResourceExhaustedError("uid quota");
  Handle(kThird, Publish(0, "t", "x"));
  EXPECT_TRUE(outbox_.QueueOf(kCaller.id, 1).empty());
  EXPECT_EQ(outbox_.QueueOf(kCallee.id, 1).size(), 1u);
  // The subscriber is asked for its message's bytes and descriptors.
  bool asked = false;
  for (const FakeOutbox::RoomAsked& room : outbox_.uid_room_asked) {
    asked |= room.session == kCaller.id && room.bytes > 0 && room.fds == 0;
  }
  EXPECT_TRUE(asked);
  outbox_.uid_room.erase(kCaller.id);
  Handle(kThird, Publish(0, "t", "y"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  const v1::Event::MessagesDropped dropped =
      sent[0].frame.ParseHeader()->event().messages_dropped();
  EXPECT_EQ(dropped.count(), 1u);
  EXPECT_NE(dropped.reason().find("quota of unread output"), std::string::npos)
      << dropped.reason();
  EXPECT_EQ(outbox_.QueueOf(kCaller.id, 1).size(), 1u);
}

TEST_F(TopicRouterTest, ARunOverTheUidQuotaMeetsThePolicyMessageByMessage) {
  SubscribeOk(kCaller, 1, "t", 0, 0, v1::OVERFLOW_POLICY_DROP_NEWEST);
  outbox_.uid_room[kCaller.id] = absl::ResourceExhaustedError("uid quota");
  router_.OnPublishRun(kThird, RunOf("t", {"1", "2"}), kT0);
  EXPECT_TRUE(outbox_.QueueOf(kCaller.id, 1).empty());
  EXPECT_EQ(router_.stats().messages_dropped, 2u);
}

TEST_F(TopicRouterTest, DisconnectClosesTheSubscriberNamingTheSubscription) {
  outbox_.ForgetOnClose(router_);
  SubscribeOk(kCaller, 4, "t.>", 1, 0, v1::OVERFLOW_POLICY_DISCONNECT);
  SubscribeOk(kCallee, 1, "t.>", 1, 0, v1::OVERFLOW_POLICY_DROP_NEWEST);
  EXPECT_EQ(PublishOk(kThird, "t.a").delivered(), 2u);
  v1::PublishResult result = PublishOk(kThird, "t.a");
  EXPECT_EQ(result.delivered(), 0u);
  EXPECT_EQ(result.dropped(), 2u);
  ASSERT_EQ(outbox_.closed.size(), 1u);
  EXPECT_EQ(outbox_.closed[0].session, kCaller.id);
  EXPECT_TRUE(outbox_.closed[0].with_error);
  EXPECT_EQ(outbox_.closed[0].reason.code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_NE(outbox_.closed[0].reason.message().find("subscription 4 ('t.>'"),
            absl::string_view::npos)
      << outbox_.closed[0].reason;
  // ForgetSession ran: the subscription is gone.
  EXPECT_EQ(router_.subscriptions().CountFor(kCaller.id), 0u);
  EXPECT_EQ(router_.stats().subscribers_disconnected, 1u);
}

TEST_F(TopicRouterTest, ASubscriberClosedDuringAFanOutGetsNothingMore) {
  outbox_.ForgetOnClose(router_);
  SubscribeOk(kCaller, 1, "t", 1, 0, v1::OVERFLOW_POLICY_DISCONNECT);
  SubscribeOk(kCaller, 2, "t");  // would take it, but the session is doomed
  PublishOk(kThird, "t");
  Clear();
  PublishOk(kThird, "t");
  EXPECT_TRUE(Timeline(kCaller.id).empty());
  EXPECT_EQ(outbox_.closed.size(), 1u);
}

// A publisher that overflows its own DISCONNECT subscription still gets
// the REPLY to its PUBLISH: the close is asked for after it.
TEST_F(TopicRouterTest, APublisherClosedByItsOwnSubscriptionGetsItsReplyFirst) {
  outbox_.ForgetOnClose(router_);
  SubscribeOk(kCaller, 1, "t", 1, 0, v1::OVERFLOW_POLICY_DISCONNECT);
  EXPECT_EQ(PublishOk(kCaller, "t").delivered(), 1u);
  const v1::PublishResult result = PublishOk(kCaller, "t");
  EXPECT_EQ(result.delivered(), 0u);
  EXPECT_EQ(result.dropped(), 1u);
  ASSERT_EQ(outbox_.closed.size(), 1u);
  EXPECT_EQ(outbox_.closed[0].session, kCaller.id);
  EXPECT_EQ(router_.subscriptions().CountFor(kCaller.id), 0u);
}

// The outbox never calls back into the router (outbox.h): a session the
// router closes keeps its state until it is forgotten, and gets nothing
// more from fan-outs in the meantime.
TEST_F(TopicRouterTest, AClosedSubscriberIsForgottenOnlyWhenTheServerSaysSo) {
  outbox_.ForgetOnClose(router_);
  router_.OnSessionOpened(SessionInfo{kCaller, "sub", "unix", "", kT0, {}},
                          kT0);
  SubscribeOk(kCaller, 1, "t", 1, 0, v1::OVERFLOW_POLICY_DISCONNECT);
  SubscribeOk(kCaller, 2, "t");
  SubscribeOk(kCallee, 1, "switchboard.connection.closed");
  PublishOk(kThird, "t");
  Clear();
  router_.OnFrame(kThird, Publish(0, "t"), kT0);  // no ForgetClosed() yet
  ASSERT_EQ(outbox_.closed.size(), 1u);
  EXPECT_EQ(outbox_.closed[0].session, kCaller.id);
  EXPECT_EQ(router_.subscriptions().CountFor(kCaller.id), 2u);
  const RouterStats before = router_.stats();
  router_.OnFrame(kThird, Publish(0, "t"), kT0);
  EXPECT_EQ(router_.stats().messages_delivered, before.messages_delivered);
  EXPECT_EQ(router_.stats().messages_dropped, before.messages_dropped);
  EXPECT_EQ(outbox_.closed.size(), 1u);
  EXPECT_TRUE(Timeline(kCallee.id).empty());
  outbox_.ForgetClosed();
  EXPECT_EQ(router_.subscriptions().CountFor(kCaller.id), 0u);
  ASSERT_EQ(Timeline(kCallee.id).size(), 1u);  // switchboard.connection.closed
}

// Forgetting a session closed by DISCONNECT publishes
// switchboard.connection.closed, which overflows other DISCONNECT
// subscribers, whose closes publish again once they are forgotten in turn;
// sessions closed in one fan-out are forgotten together.
TEST_F(TopicRouterTest, DisconnectsThatCascadeThroughCloseEventsAreSafe) {
  outbox_.ForgetOnClose(router_);
  const Peer a{SessionId(11)}, b{SessionId(12)}, c{SessionId(13)},
      d{SessionId(14)}, watcher{SessionId(15)};
  for (const Peer& peer : {a, b, c, d, watcher}) {
    router_.OnSessionOpened(SessionInfo{peer, "p", "unix", "", kT0, {}}, kT0);
  }
  // a and b overflow on "t"; b, c and d overflow on close events.
  SubscribeOk(a, 1, "t", 1, 0, v1::OVERFLOW_POLICY_DISCONNECT);
  SubscribeOk(b, 1, "t", 1, 0, v1::OVERFLOW_POLICY_DISCONNECT);
  for (const Peer& peer : {b, c, d}) {
    SubscribeOk(peer, 2, "switchboard.connection.closed", 1, 0,
                v1::OVERFLOW_POLICY_DISCONNECT);
  }
  SubscribeOk(watcher, 1, "switchboard.connection.>", 0, 0,
              v1::OVERFLOW_POLICY_DROP_NEWEST);
  PublishOk(kThird, "t");                                // fills a and b
  router_.ForgetSession(SessionId(99), "never opened");  // publishes nothing
  // Fill the close-event queues of b, c and d with one message each.
  router_.OnSessionOpened(SessionInfo{kCallee, "filler", "unix", "", kT0, {}},
                          kT0);
  router_.ForgetSession(kCallee.id, "gone");
  ASSERT_TRUE(outbox_.closed.empty());
  Clear();

  EXPECT_EQ(PublishOk(kThird, "t").dropped(), 2u);
  std::vector<SessionId> closed;
  for (const auto& c_ : outbox_.closed) closed.push_back(c_.session);
  std::sort(closed.begin(), closed.end());
  closed.erase(std::unique(closed.begin(), closed.end()), closed.end());
  EXPECT_EQ(closed, (std::vector<SessionId>{a.id, b.id, c.id, d.id}));
  for (const Peer& peer : {a, b, c, d}) {
    EXPECT_EQ(router_.subscriptions().CountFor(peer.id), 0u) << peer.id;
  }
  // The watcher (room for 1024) saw every connection event.
  v1::BrokerStatus status = router_.Status(kT0);
  EXPECT_EQ(status.connections(), 1u);  // the watcher
  ASSERT_EQ(status.subscriptions_size(), 1);
  EXPECT_EQ(status.subscriptions(0).connection_id(), watcher.id.value());
  EXPECT_EQ(
      status.subscriptions(0).delivered() + status.subscriptions(0).dropped(),
      6u);  // kCallee opened and closed, then a, b, c and d closed
}

TEST_F(TopicRouterTest, MessagesWithDescriptorsSkipSubscribersThatTakeNone) {
  outbox_.accepts_fds.insert(kCaller.id);
  SubscribeOk(kCaller, 1, "t");
  SubscribeOk(kCallee, 1, "t");
  wire::Frame publish = Publish(0, "t");
  publish.set_fds(EventFds(2));
  Handle(kThird, std::move(publish));
  std::vector<FakeOutbox::Message> messages = outbox_.TakeMessages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].to, kCaller.id);
  EXPECT_EQ(messages[0].frame->fds().size(), 2u);
  EXPECT_EQ(checked_fds_, 2u);
  Handle(kThird, Publish(0, "t", "plain"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);  // the drop report, then the message
  EXPECT_EQ(sent[0].to, kCallee.id);
  const v1::Event::MessagesDropped dropped =
      sent[0].frame.ParseHeader()->event().messages_dropped();
  EXPECT_EQ(dropped.subscription_id(), 1u);
  EXPECT_NE(dropped.reason().find("file descriptors"), std::string::npos);
}

TEST_F(TopicRouterTest, PublishWithBadBuffersIsRefused) {
  outbox_.accepts_fds.insert(kCaller.id);
  SubscribeOk(kCaller, 1, "t");
  buffer_check_ = absl::InvalidArgumentError("buffer 0 is not a memfd");
  wire::Frame publish = Publish(5, "t");
  publish.set_fds(EventFds(1));
  Handle(kThird, std::move(publish));
  ExpectAnswer(kThird.id, 5, absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(outbox_.messages.empty());
  EXPECT_EQ(router_.stats().buffers_refused, 1u);
}

TEST_F(TopicRouterTest, MessagesKeepThePublishersOrderPerSubscriber) {
  SubscribeOk(kCaller, 1, "t.*");
  SubscribeOk(kCaller, 2, "t.b");
  for (const char* topic : {"t.a", "t.b", "t.a", "t.b"}) {
    Handle(kThird, Publish(0, topic, topic));
  }
  // Each subscription sees the publisher's order. The two copies of one
  // message may be queued in either order, but both before the next one.
  Strings timeline = Timeline(kCaller.id);
  ASSERT_EQ(timeline.size(), 6u);
  std::sort(timeline.begin() + 1, timeline.begin() + 3);
  std::sort(timeline.begin() + 4, timeline.end());
  EXPECT_EQ(timeline, (Strings{"M1:t.a", "M1:t.b", "M2:t.b", "M1:t.a", "M1:t.b",
                               "M2:t.b"}));
}

TEST_F(TopicRouterTest, ConnectionEventsAreMatchedBySwitchboardPatterns) {
  SubscribeOk(kCaller, 1, "switchboard.>");
  SubscribeOk(kCaller, 2, "switchboard.connection.opened");
  router_.OnSessionOpened(
      SessionInfo{Peer{SessionId(8), 1234, 5678}, "viewer", "tcp", "", kT0, {}},
      kT0);
  std::vector<FakeOutbox::Message> messages = outbox_.TakeMessages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].frame.get(), messages[1].frame.get());
  const wire::Frame& message = *messages[0].frame;
  EXPECT_EQ(message.kind(), wire::Kind::kMessage);
  EXPECT_EQ(message.prefix().sender, 0u);
  absl::StatusOr<v1::Header> header = message.ParseHeader();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->publish().topic(), kTopicConnectionOpened);
  EXPECT_EQ(header->publish().message_type(), "switchboard.v1.ConnectionEvent");
  v1::ConnectionEvent event;
  ASSERT_TRUE(event.ParseFromString(std::string(message.payload())));
  EXPECT_EQ(event.connection_id(), 8u);
  EXPECT_EQ(event.client_name(), "viewer");
  EXPECT_EQ(event.uid(), 1234u);
  EXPECT_EQ(event.pid(), 5678u);
  EXPECT_EQ(event.transport(), "tcp");

  router_.ForgetSession(SessionId(8), "closed by the client");
  router_.ForgetSession(SessionId(8), "again");  // idempotent: no second event
  messages = outbox_.TakeMessages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].subscription, 1u);
  header = messages[0].frame->ParseHeader();
  EXPECT_EQ(header->publish().topic(), kTopicConnectionClosed);
  ASSERT_TRUE(event.ParseFromString(std::string(messages[0].frame->payload())));
  EXPECT_EQ(event.connection_id(), 8u);
  EXPECT_EQ(event.reason(), "closed by the client");
  EXPECT_EQ(router_.stats().broker_messages, 2u);
}

TEST_F(TopicRouterTest, EveryOwnerChangeIsPublishedOnTheNamesTopic) {
  SubscribeOk(kThird, 1, "switchboard.name.>");
  auto changes = [&] {
    std::vector<std::string> out;
    for (const auto& m : outbox_.TakeMessages()) {
      v1::NameOwnerChanged change;
      EXPECT_TRUE(change.ParseFromString(std::string(m.frame->payload())));
      EXPECT_EQ(m.frame->ParseHeader()->publish().topic(),
                absl::StrCat("switchboard.name.", change.name()));
      out.push_back(absl::StrCat(change.name(), " ", change.old_owner(), "->",
                                 change.new_owner()));
    }
    return out;
  };
  Handle(kCaller, Register(1, "video.frames", v1::NAME_FLAG_FAIL_IF_OWNED,
                           /*allow_replacement=*/true));
  Handle(kCallee, Register(1, "video.frames", v1::NAME_FLAG_REPLACE));
  Handle(kCaller, Register(2, "video.frames", v1::NAME_FLAG_QUEUE));
  EXPECT_EQ(changes(), (Strings{"video.frames 0->1", "video.frames 1->2"}));
  Handle(kCallee, Release(2, "video.frames"));  // kCaller was queued
  EXPECT_EQ(changes(), (Strings{"video.frames 2->1"}));
  router_.ForgetSession(kCaller.id, "gone");
  EXPECT_EQ(changes(), (Strings{"video.frames 1->0"}));
}

// Runs of small PUBLISH frames (wire/publish_run.h), which the broker routes
// as one: OnPublishRun() must do what OnFrame() does with each of them.

TEST_F(TopicRouterTest, ARunReachesEveryMatchingSubscriptionStampedInOrder) {
  const Peer fourth{SessionId(4), 1003, 444};
  SubscribeOk(kCaller, 1, "video.*");
  SubscribeOk(fourth, 2, "video.>");
  SubscribeOk(kCallee, 7, ">");
  SubscribeOk(kCallee, 8, "audio.>");  // no match
  const RouterStats before = router_.stats();
  const Strings payloads = Numbered("frame-", 10);
  const std::string header(Publish(0, "video.clip").header_bytes());
  router_.OnPublishRun(kThird, RunOf("video.clip", payloads), kT0);
  EXPECT_TRUE(outbox_.sent.empty());  // no request id, no reply
  EXPECT_TRUE(outbox_.closed.empty());
  // One run for each matching subscription, its messages in order.
  EXPECT_EQ(outbox_.runs, 3);
  for (const auto& [session, subscription] :
       std::vector<std::pair<SessionId, uint64_t>>{
           {kCaller.id, 1}, {fourth.id, 2}, {kCallee.id, 7}}) {
    SCOPED_TRACE(absl::StrCat(session.value(), "/", subscription));
    EXPECT_EQ(QueuedPayloads(session, subscription), payloads);
    for (const auto& message : outbox_.QueueOf(session, subscription)) {
      EXPECT_EQ(message->kind(), wire::Kind::kMessage);
      EXPECT_EQ(message->request_id(), 0u);
      EXPECT_EQ(message->prefix().flags, 0);
      // The publisher's own claims (999) are overwritten.
      EXPECT_EQ(message->prefix().sender, kThird.id.value());
      EXPECT_EQ(message->prefix().sender_uid, kThird.uid);
      EXPECT_EQ(message->prefix().sender_pid, kThird.pid);
      EXPECT_EQ(message->header_bytes(), header);
      absl::StatusOr<wire::Prefix> reread =
          wire::DecodePrefix(message->bytes());
      ASSERT_TRUE(reread.ok());
      EXPECT_EQ(reread->kind, wire::Kind::kMessage);
      EXPECT_EQ(reread->sender, kThird.id.value());
    }
  }
  EXPECT_TRUE(outbox_.QueueOf(kCallee.id, 8).empty());
  const RouterStats& after = router_.stats();
  EXPECT_EQ(after.frames_in - before.frames_in, 10u);
  EXPECT_EQ(after.publishes - before.publishes, 10u);
  EXPECT_EQ(after.messages_delivered - before.messages_delivered, 30u);
  EXPECT_EQ(after.frames_out - before.frames_out, 30u);
  EXPECT_EQ(after.messages_dropped, 0u);
  EXPECT_EQ(after.publishes_refused, 0u);
  v1::BrokerStatus status = router_.Status(kT0);
  ASSERT_EQ(status.subscriptions_size(), 4);
  for (const v1::SubscriptionStatus& s : status.subscriptions()) {
    EXPECT_EQ(s.delivered(), s.subscription_id() == 8 ? 0u : 10u)
        << s.subscription_id();
  }

  // A publisher that accepts descriptors: every message says so.
  Clear();
  outbox_.Write(kCaller.id);
  const Peer accepts_fds{kThird.id, kThird.uid, kThird.pid, true};
  router_.OnPublishRun(accepts_fds, RunOf("video.clip", Numbered("x", 3)), kT0);
  const auto queued = outbox_.QueueOf(kCaller.id, 1);
  ASSERT_EQ(queued.size(), 3u);
  for (const auto& message : queued) {
    EXPECT_EQ(message->prefix().flags, wire::kFlagSenderAcceptsFds);
  }
}

TEST_F(TopicRouterTest, ARunWithoutSubscribersIsCountedAndGoesNowhere) {
  SubscribeOk(kCaller, 1, "other");
  const RouterStats before = router_.stats();
  router_.OnPublishRun(kThird, RunOf("nobody.listens", Numbered("m", 4)), kT0);
  EXPECT_EQ(outbox_.runs, 0);
  EXPECT_TRUE(outbox_.messages.empty());
  EXPECT_TRUE(outbox_.sent.empty());
  EXPECT_TRUE(outbox_.closed.empty());
  EXPECT_EQ(router_.stats().publishes - before.publishes, 4u);
  EXPECT_EQ(router_.stats().frames_in - before.frames_in, 4u);
  EXPECT_EQ(router_.stats().messages_delivered, 0u);
}

// A router with its fake outbox, for sending the same frames two ways.
struct Broker {
  explicit Broker(const RouterConfig& config)
      : router(config, outbox,
               [](const std::vector<Fd>&) { return absl::OkStatus(); }) {
    outbox.ForgetOnClose(router);
  }
  void Subscribe(const Peer& peer, uint64_t id, uint32_t max_messages,
                 uint64_t max_bytes, v1::OverflowPolicy policy) {
    router.OnFrame(peer,
                   ::switchboard::core::Subscribe(
                       100 + id, id, "t", max_messages, max_bytes, policy),
                   kT0);
    std::vector<FakeOutbox::Sent> sent = outbox.Take();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_TRUE(ReplyStatus(sent[0].frame).ok());
  }
  // The bytes of every message queued for one subscription.
  Strings Queue(SessionId session, uint64_t subscription) const {
    Strings out;
    for (const auto& m : outbox.QueueOf(session, subscription)) {
      out.emplace_back(m->bytes());
    }
    return out;
  }

  FakeOutbox outbox;
  Router router;
};

TEST_F(TopicRouterTest, ARunThatDoesNotFitMeetsThePolicyAsSinglePublishes) {
  const size_t frame_bytes = Publish(0, "t", "p0").bytes().size();
  struct Case {
    const char* name;
    v1::OverflowPolicy policy;
    uint32_t max_messages;
    uint64_t max_bytes;
    int queued_before;  // messages published one by one first
    int run;            // messages in the run
    size_t payload_bytes;
    bool write_now_drains;
    bool fits;                // the run goes as one to the limited subscriber
    size_t other_output = 0;  // other bytes queued for its connection
    // The limited subscriber's connection has a second subscription that
    // matches (default limits, drop_newest): the run goes message by
    // message, and the copies alternate.
    bool second_subscription = false;
  };
  const Case cases[] = {
      {"drop_oldest", v1::OVERFLOW_POLICY_DROP_OLDEST, 4, 0, 2, 6, 0, false,
       false},
      {"drop_newest", v1::OVERFLOW_POLICY_DROP_NEWEST, 4, 0, 2, 6, 0, false,
       false},
      {"disconnect", v1::OVERFLOW_POLICY_DISCONNECT, 4, 0, 2, 6, 0, false,
       false},
      {"drop_oldest, exactly full", v1::OVERFLOW_POLICY_DROP_OLDEST, 6, 0, 0, 6,
       0, false, true},
      {"disconnect, exactly full", v1::OVERFLOW_POLICY_DISCONNECT, 4, 0, 1, 3,
       0, false, true},
      {"drop_newest, one too many", v1::OVERFLOW_POLICY_DROP_NEWEST, 5, 0, 0, 6,
       0, false, false},
      {"drop_oldest, one too many", v1::OVERFLOW_POLICY_DROP_OLDEST, 5, 0, 0, 6,
       0, false, false},
      {"drop_newest, bytes", v1::OVERFLOW_POLICY_DROP_NEWEST, 0,
       3 * frame_bytes + frame_bytes / 2, 0, 6, 0, false, false},
      {"drop_oldest, bytes", v1::OVERFLOW_POLICY_DROP_OLDEST, 0,
       3 * frame_bytes + frame_bytes / 2, 1, 6, 0, false, false},
      // Over the connection's max_queued_bytes (1000), for both subscribers.
      {"drop_oldest, connection", v1::OVERFLOW_POLICY_DROP_OLDEST, 0, 0, 0, 20,
       40, false, false},
      {"drop_newest, connection", v1::OVERFLOW_POLICY_DROP_NEWEST, 0, 0, 0, 20,
       40, false, false},
      // A socket that takes what is queued: nothing is lost either way.
      {"drop_newest, written", v1::OVERFLOW_POLICY_DROP_NEWEST, 2, 0, 1, 6, 0,
       true, false},
      {"disconnect, written", v1::OVERFLOW_POLICY_DISCONNECT, 2, 0, 1, 6, 0,
       true, false},
      // The subscription's limits take the run, but not the connection's
      // quota with other output queued.
      {"drop_oldest, other output", v1::OVERFLOW_POLICY_DROP_OLDEST, 0, 0, 0, 4,
       0, false, false, 1000 - 2 * frame_bytes},
      {"drop_newest, other output", v1::OVERFLOW_POLICY_DROP_NEWEST, 0, 0, 1, 4,
       0, false, false, 1000 - 4 * frame_bytes},
      {"drop_newest, other output, fits", v1::OVERFLOW_POLICY_DROP_NEWEST, 0, 0,
       0, 4, 0, false, true, 1000 - 4 * frame_bytes},
      // Two subscriptions share the room left on the connection.
      {"drop_newest, two subscriptions", v1::OVERFLOW_POLICY_DROP_NEWEST, 0, 0,
       0, 4, 0, false, false, 1000 - 6 * frame_bytes, true},
      {"drop_oldest, two subscriptions", v1::OVERFLOW_POLICY_DROP_OLDEST, 3, 0,
       1, 6, 0, false, false, 0, true},
      {"disconnect, two subscriptions", v1::OVERFLOW_POLICY_DISCONNECT, 3, 0, 1,
       6, 0, false, false, 0, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Broker by_run(Config());
    Broker one_by_one(Config());
    for (Broker* broker : {&by_run, &one_by_one}) {
      broker->outbox.write_now_drains = c.write_now_drains;
      broker->outbox.queued[kCaller.id] = c.other_output;
      broker->Subscribe(kCaller, 1, c.max_messages, c.max_bytes, c.policy);
      if (c.second_subscription) {
        broker->Subscribe(kCaller, 2, 0, 0, v1::OVERFLOW_POLICY_DROP_NEWEST);
      }
      // Another subscriber with the default limits.
      broker->Subscribe(kCallee, 1, 0, 0, v1::OVERFLOW_POLICY_DROP_NEWEST);
      for (int i = 0; i < c.queued_before; ++i) {
        broker->router.OnFrame(kThird, Publish(0, "t", absl::StrCat("q", i)),
                               kT0);
        broker->outbox.ForgetClosed();
      }
    }
    const Strings payloads = Numbered("p", c.run, c.payload_bytes);
    by_run.router.OnPublishRun(kThird, RunOf("t", payloads), kT0);
    by_run.outbox.ForgetClosed();
    for (const std::string& payload : payloads) {
      one_by_one.router.OnFrame(kThird, Publish(0, "t", payload), kT0);
      one_by_one.outbox.ForgetClosed();
    }

    // The limited subscriber's run went as one only if it all fit; the
    // other's unless the connection's quota (1000 bytes) was in the way.
    const size_t run_bytes = RunOf("t", payloads).bytes().size();
    const bool other_fits = c.queued_before * frame_bytes + run_bytes <= 1000;
    if (c.second_subscription) {
      EXPECT_EQ(by_run.outbox.runs, 0);
    } else {
      EXPECT_EQ(by_run.outbox.runs, (c.fits ? 1 : 0) + (other_fits ? 1 : 0));
    }
    const RouterStats& run_stats = by_run.router.stats();
    const RouterStats& one_stats = one_by_one.router.stats();
    if (c.fits || c.write_now_drains) {
      EXPECT_EQ(run_stats.messages_dropped, 0u);
    } else {
      // The case overflows: something was dropped or someone closed.
      EXPECT_GT(run_stats.messages_dropped, 0u);
    }
    for (const Peer& peer : {kCaller, kCallee}) {
      SCOPED_TRACE(peer.id.value());
      EXPECT_EQ(TimelineOf(by_run.outbox, peer.id),
                TimelineOf(one_by_one.outbox, peer.id));
      EXPECT_EQ(by_run.Queue(peer.id, 1), one_by_one.Queue(peer.id, 1));
      EXPECT_EQ(by_run.Queue(peer.id, 2), one_by_one.Queue(peer.id, 2));
      EXPECT_EQ(by_run.outbox.writes_now[peer.id],
                one_by_one.outbox.writes_now[peer.id]);
    }
    EXPECT_EQ(run_stats.publishes, one_stats.publishes);
    EXPECT_EQ(run_stats.frames_in, one_stats.frames_in);
    EXPECT_EQ(run_stats.frames_out, one_stats.frames_out);
    EXPECT_EQ(run_stats.messages_delivered, one_stats.messages_delivered);
    EXPECT_EQ(run_stats.messages_dropped, one_stats.messages_dropped);
    EXPECT_EQ(run_stats.subscribers_disconnected,
              one_stats.subscribers_disconnected);
    EXPECT_EQ(run_stats.protocol_errors, one_stats.protocol_errors);
    ASSERT_EQ(by_run.outbox.closed.size(), one_by_one.outbox.closed.size());
    for (size_t i = 0; i < by_run.outbox.closed.size(); ++i) {
      EXPECT_EQ(by_run.outbox.closed[i].session,
                one_by_one.outbox.closed[i].session);
      EXPECT_EQ(by_run.outbox.closed[i].reason,
                one_by_one.outbox.closed[i].reason);
    }
    if (c.policy == v1::OVERFLOW_POLICY_DISCONNECT && !c.fits &&
        !c.write_now_drains) {
      ASSERT_EQ(by_run.outbox.closed.size(), 1u);
      EXPECT_EQ(by_run.outbox.closed[0].session, kCaller.id);
    }
    // What the broker reports per subscription agrees too.
    const v1::BrokerStatus run_status = by_run.router.Status(kT0);
    const v1::BrokerStatus one_status = one_by_one.router.Status(kT0);
    ASSERT_EQ(run_status.subscriptions_size(), one_status.subscriptions_size());
    for (int i = 0; i < run_status.subscriptions_size(); ++i) {
      EXPECT_EQ(run_status.subscriptions(i).connection_id(),
                one_status.subscriptions(i).connection_id());
      EXPECT_EQ(run_status.subscriptions(i).delivered(),
                one_status.subscriptions(i).delivered());
      EXPECT_EQ(run_status.subscriptions(i).dropped(),
                one_status.subscriptions(i).dropped());
      EXPECT_EQ(run_status.subscriptions(i).queued_messages(),
                one_status.subscriptions(i).queued_messages());
    }
  }
}

// As MessagesKeepThePublishersOrderPerSubscriber for single publishes: a
// session with two matching subscriptions gets both copies of a message
// before the next one (docs/PROTOCOL.md 9: the broker appends to each
// destination's queue in the order the publisher sent).
TEST_F(TopicRouterTest, ARunKeepsThePublishersOrderAcrossASessionsCopies) {
  SubscribeOk(kCaller, 1, "t.*");
  SubscribeOk(kCaller, 2, "t.b");
  router_.OnPublishRun(kThird, RunOf("t.b", {"1", "2", "3"}), kT0);
  Strings timeline = Timeline(kCaller.id);
  ASSERT_EQ(timeline.size(), 6u);
  // The two copies of one message may be queued in either order.
  for (size_t i = 0; i < timeline.size(); i += 2) {
    std::sort(timeline.begin() + i, timeline.begin() + i + 2);
  }
  EXPECT_EQ(timeline,
            (Strings{"M1:1", "M2:1", "M1:2", "M2:2", "M1:3", "M2:3"}));
}

TEST_F(TopicRouterTest, DropsBeforeARunAreReportedBeforeItsMessages) {
  SubscribeOk(kCaller, 1, "t", 2, 0, v1::OVERFLOW_POLICY_DROP_NEWEST);
  for (const char* payload : {"1", "2", "3"}) {
    Handle(kThird, Publish(0, "t", payload));
  }
  Clear();
  outbox_.Write(kCaller.id);
  router_.OnPublishRun(kThird, RunOf("t", {"4", "5"}), kT0);
  EXPECT_EQ(outbox_.runs, 1);
  EXPECT_EQ(Timeline(kCaller.id), (Strings{"D1:1/1", "M1:4", "M1:5"}));
}

TEST_F(TopicRouterTest, ARunOnAReservedOrMalformedTopicClosesThePublisher) {
  SubscribeOk(kCaller, 1, ">");
  // A run on an allowed topic first: the topic the router remembers as
  // allowed must not let another one through.
  router_.OnPublishRun(kThird, RunOf("fine", Numbered("f", 2)), kT0);
  ASSERT_EQ(outbox_.runs, 1);
  Clear();
  const RouterStats before = router_.stats();

  router_.OnPublishRun(
      kThird, RunOf("switchboard.connection.opened", Numbered("x", 5)), kT0);
  ASSERT_EQ(outbox_.closed.size(), 1u);
  EXPECT_EQ(outbox_.closed[0].session, kThird.id);
  EXPECT_EQ(outbox_.closed[0].reason.code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(outbox_.closed[0].with_error);
  EXPECT_EQ(router_.stats().publishes_refused - before.publishes_refused, 1u);

  router_.OnPublishRun(kCallee, RunOf("a..b", Numbered("y", 3)), kT0);
  ASSERT_EQ(outbox_.closed.size(), 2u);
  EXPECT_EQ(outbox_.closed[1].session, kCallee.id);
  EXPECT_EQ(outbox_.closed[1].reason.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.stats().publishes_refused - before.publishes_refused, 2u);

  // A PUBLISH header that is no publish at all.
  v1::Header wrong;
  wrong.mutable_unsubscribe()->set_subscription_id(1);
  std::vector<wire::Frame> frames;
  frames.push_back(FrameOf(wire::Kind::kPublish, 0, &wrong, "1"));
  frames.push_back(FrameOf(wire::Kind::kPublish, 0, &wrong, "2"));
  router_.OnPublishRun(kThird, RunOf(frames), kT0);
  ASSERT_EQ(outbox_.closed.size(), 3u);
  EXPECT_EQ(outbox_.closed[2].reason.code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(outbox_.runs, 1);
  EXPECT_TRUE(outbox_.messages.empty());
  EXPECT_EQ(router_.stats().publishes, before.publishes);
  EXPECT_EQ(router_.stats().messages_delivered, before.messages_delivered);
}

TEST_F(TopicRouterTest, WithAMonitorRunningARunIsRoutedMessageByMessage) {
  const Peer root{SessionId(5), 0, 555};  // root may monitor
  SubscribeOk(kCaller, 1, "t.>");
  Handle(root, MonitorCall(40, 100));
  ASSERT_EQ(router_.monitors().size(), 1u);
  EXPECT_TRUE(outbox_.Take().empty());
  const RouterStats before = router_.stats();

  const Strings payloads = Numbered("tick", 5);
  router_.OnPublishRun(kThird, RunOf("t.x", payloads), kT0);
  EXPECT_EQ(outbox_.runs, 0);
  EXPECT_EQ(QueuedPayloads(kCaller.id, 1), payloads);
  for (const auto& message : outbox_.QueueOf(kCaller.id, 1)) {
    EXPECT_EQ(message->kind(), wire::Kind::kMessage);
    EXPECT_EQ(message->prefix().sender, kThird.id.value());
  }
  // The monitor saw each message.
  Strings seen;
  for (const FakeOutbox::Sent& sent : outbox_.Take()) {
    ASSERT_EQ(sent.to, root.id);
    EXPECT_EQ(sent.frame.request_id(), 40u);
    EXPECT_NE(sent.frame.prefix().flags & wire::kFlagMore, 0);
    v1::MonitorEvent event;
    ASSERT_TRUE(event.ParseFromString(std::string(sent.frame.payload())));
    EXPECT_EQ(event.kind(), v1::MonitorEvent::KIND_PUBLISH);
    EXPECT_EQ(event.topic(), "t.x");
    EXPECT_EQ(event.type(), "demo.Note");
    EXPECT_EQ(event.from(), kThird.id.value());
    EXPECT_EQ(event.delivered(), 1u);
    seen.push_back(event.payload());
  }
  EXPECT_EQ(seen, payloads);
  const RouterStats& after = router_.stats();
  EXPECT_EQ(after.frames_in - before.frames_in, 5u);
  EXPECT_EQ(after.publishes - before.publishes, 5u);
  EXPECT_EQ(after.messages_delivered - before.messages_delivered, 5u);

  // With the monitor gone, runs go as one again.
  Handle(root, FrameOf(wire::Kind::kCancel, 40, nullptr));
  ASSERT_TRUE(router_.monitors().empty());
  Clear();
  router_.OnPublishRun(kThird, RunOf("t.x", payloads), kT0);
  EXPECT_EQ(outbox_.runs, 1);
  EXPECT_TRUE(outbox_.Take().empty());
}

TEST_F(TopicRouterTest, AMonitorSeesNothingOfARunOnAReservedTopic) {
  const Peer root{SessionId(5), 0, 555};
  SubscribeOk(kCaller, 1, ">");
  Handle(root, MonitorCall(40, 100));
  ASSERT_EQ(router_.monitors().size(), 1u);
  outbox_.Take();
  router_.OnPublishRun(kThird, RunOf("switchboard.x", Numbered("x", 3)), kT0);
  ASSERT_EQ(outbox_.closed.size(), 1u);
  EXPECT_EQ(outbox_.closed[0].session, kThird.id);
  EXPECT_EQ(outbox_.closed[0].reason.code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(router_.stats().publishes_refused, 1u);
  EXPECT_TRUE(outbox_.messages.empty());
  EXPECT_TRUE(outbox_.Take().empty());
}

// Per-uid quotas: subscriptions are charged to the subscriber's uid.
class TopicRouterQuotaTest : public RouterTest {
 protected:
  TopicRouterQuotaTest() : RouterTest(QuotaConfig()) {}
};

TEST_F(TopicRouterQuotaTest, SubscriptionsAreCountedOverAllOfAUidsConnections) {
  Handle(kCaller, Subscribe(1, 1, "a.>"));
  Handle(kCaller, Subscribe(2, 2, "b.>"));
  Handle(kCallerTwin, Subscribe(1, 1, "c.>"));
  ASSERT_EQ(outbox_.Take().size(), 3u);
  Handle(kCallerTwin, Subscribe(2, 2, "d.>"));
  ExpectRefused(kCallerTwin.id, 2,
                "uid 1000 holds 3 subscriptions, its limit "
                "(--max-subscriptions-per-uid)");
  // Another uid is not touched.
  Handle(kCallee, Subscribe(1, 1, "a.>"));
  ExpectAnswer(kCallee.id, 1, absl::StatusCode::kOk);
  // UNSUBSCRIBE and a connection leaving give them back.
  Handle(kCaller, Unsubscribe(3, 1));
  ExpectAnswer(kCaller.id, 3, absl::StatusCode::kOk);
  Handle(kCallerTwin, Subscribe(3, 2, "d.>"));
  ExpectAnswer(kCallerTwin.id, 3, absl::StatusCode::kOk);
  EXPECT_EQ(Held(1000, Quota::kSubscriptions), 3u);
  router_.ForgetSession(kCallerTwin.id, "test");
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kSubscriptions), 1u);
  EXPECT_EQ(Held(1001, Quota::kSubscriptions), 1u);
}

}  // namespace
}  // namespace switchboard::core
