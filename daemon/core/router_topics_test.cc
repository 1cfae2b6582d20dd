// SPDX-License-Identifier: MIT
//
// The router's topic half: SUBSCRIBE, UNSUBSCRIBE, PUBLISH, the shared
// fan-out, the overflow policies and their drop reports, and what the
// broker publishes on switchboard.> (docs/PROTOCOL.md 5.5, 6.2).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "daemon/core/router.h"
#include "daemon/core/router_test_fixture.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"

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

class RouterTopicsTest : public RouterTest {
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
    std::vector<std::pair<uint64_t, std::string>> items;
    for (const FakeOutbox::Message& m : outbox_.messages) {
      if (m.to != session) continue;
      items.emplace_back(
          m.seq, absl::StrCat("M", m.subscription, ":", m.frame->payload()));
    }
    for (const FakeOutbox::Sent& s : outbox_.sent) {
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

TEST_F(RouterTopicsTest, SubscribeAnswersTheLimitsInForce) {
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

TEST_F(RouterTopicsTest, BadSubscribesAreAnsweredWithTheirError) {
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

TEST_F(RouterTopicsTest, UnsubscribeEndsDeliveryAndUnknownIdsAreNotFound) {
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

TEST_F(RouterTopicsTest, OnePublishIsSharedByEveryMatchingSubscription) {
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

TEST_F(RouterTopicsTest, PublishWithARequestIdIsAnsweredWithTheCounts) {
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

TEST_F(RouterTopicsTest, MalformedAndReservedTopicsAreRefusedBothWays) {
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

TEST_F(RouterTopicsTest, DropOldestKeepsTheNewestAndReportsBeforeTheNext) {
  SubscribeOk(kCaller, 1, "t", 2);
  for (const char* payload : {"1", "2", "3", "4", "5"}) {
    Handle(kThird, Publish(0, "t", payload));
  }
  // Each message after the second pushed the oldest out; the report of
  // that drop comes right before it.
  EXPECT_EQ(Timeline(kCaller.id),
            (Strings{"M1:1", "M1:2", "D1:1/1", "M1:3", "D1:1/2", "M1:4",
                     "D1:1/3", "M1:5"}));
  EXPECT_EQ(QueuedPayloads(kCaller.id, 1), (Strings{"4", "5"}));
  EXPECT_EQ(router_.stats().messages_dropped, 3u);
  v1::BrokerStatus status = router_.Status(kT0);
  ASSERT_EQ(status.subscriptions_size(), 1);
  EXPECT_EQ(status.subscriptions(0).dropped(), 3u);
  EXPECT_EQ(status.subscriptions(0).delivered(), 2u);

  // Once written, the queue takes new messages without dropping.
  Clear();
  outbox_.Write(kCaller.id);
  Handle(kThird, Publish(0, "t", "6"));
  EXPECT_EQ(Timeline(kCaller.id), (Strings{"M1:6"}));
}

TEST_F(RouterTopicsTest, DropNewestKeepsTheQueueAndReportsWhenOneFits) {
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

TEST_F(RouterTopicsTest, AFullSubscriptionIsWrittenOutBeforeAnythingDrops) {
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

TEST_F(RouterTopicsTest, ByteLimitsCountWholeFramesAndAnEmptyQueueTakesAny) {
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

TEST_F(RouterTopicsTest, TheConnectionsByteQuotaAlsoBounds) {
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

TEST_F(RouterTopicsTest, DisconnectClosesTheSubscriberNamingTheSubscription) {
  outbox_.ReenterOnClose(router_);
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

TEST_F(RouterTopicsTest, ASubscriberClosedDuringAFanOutGetsNothingMore) {
  outbox_.ReenterOnClose(router_);
  SubscribeOk(kCaller, 1, "t", 1, 0, v1::OVERFLOW_POLICY_DISCONNECT);
  SubscribeOk(kCaller, 2, "t");  // would take it, but the session is doomed
  PublishOk(kThird, "t");
  Clear();
  PublishOk(kThird, "t");
  EXPECT_TRUE(Timeline(kCaller.id).empty());
  EXPECT_EQ(outbox_.closed.size(), 1u);
}

// A DISCONNECT close publishes switchboard.connection.closed, which
// overflows other DISCONNECT subscribers, whose closes publish again, while
// the first fan-out's own list of closes is still being worked through.
TEST_F(RouterTopicsTest, DisconnectsThatCascadeThroughCloseEventsAreSafe) {
  outbox_.ReenterOnClose(router_);
  const Peer a{SessionId(11)}, b{SessionId(12)}, c{SessionId(13)},
      d{SessionId(14)}, watcher{SessionId(15)};
  for (const Peer& peer : {a, b, c, d, watcher}) {
    router_.OnSessionOpened(SessionInfo{peer, "p", "unix", "", kT0}, kT0);
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
  router_.OnSessionOpened(SessionInfo{kCallee, "filler", "unix", "", kT0}, kT0);
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

TEST_F(RouterTopicsTest, MessagesWithDescriptorsSkipSubscribersThatTakeNone) {
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

TEST_F(RouterTopicsTest, PublishWithBadBuffersIsRefused) {
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

TEST_F(RouterTopicsTest, MessagesKeepThePublishersOrderPerSubscriber) {
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

TEST_F(RouterTopicsTest, ConnectionEventsAreMatchedBySwitchboardPatterns) {
  SubscribeOk(kCaller, 1, "switchboard.>");
  SubscribeOk(kCaller, 2, "switchboard.connection.opened");
  router_.OnSessionOpened(
      SessionInfo{Peer{SessionId(8), 1234, 5678}, "viewer", "tcp", "", kT0},
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

TEST_F(RouterTopicsTest, EveryOwnerChangeIsPublishedOnTheNamesTopic) {
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

}  // namespace
}  // namespace switchboard::core
