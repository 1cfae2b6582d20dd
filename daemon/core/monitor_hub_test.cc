// SPDX-License-Identifier: MIT
//
// MonitorHub: switchboard.Broker/Monitor (docs/PROTOCOL.md 5.6): who may
// monitor, what becomes an event, patterns, credit and the count of missed
// events, and every way a monitor ends.
#include "daemon/core/monitor_hub.h"

#include <string>
#include <utility>
#include <vector>

#include "daemon/core/frames.h"
#include "daemon/core/router.h"
#include "daemon/core/router_test_fixture.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/schema.pb.h"
#include "wire/descriptor_files.h"

namespace switchboard::core {
namespace {

using Event = v1::MonitorEvent;

constexpr uint32_t kBrokerUid = 4000;
const Peer kWatcher{SessionId(4), kBrokerUid, 444};
const Peer kRoot{SessionId(5), 0, 555};
constexpr uint64_t kMonitorId = 40;

// GetFrame takes a MonitorRequest and answers a MonitorEvent; PlayClip
// streams raw bytes.
std::string VideoSchemaText() {
  v1::ServiceSchema schema;
  v1::MethodSchema* get = schema.add_methods();
  get->set_name("GetFrame");
  get->set_request_type("switchboard.v1.MonitorRequest");
  get->set_response_type("switchboard.v1.MonitorEvent");
  v1::MethodSchema* play = schema.add_methods();
  play->set_name("PlayClip");
  play->set_streaming(true);
  wire::AppendWithImports(v1::MonitorEvent::descriptor()->file(),
                          *schema.mutable_files());
  return schema.SerializeAsString();
}

wire::Frame MonitorCall(uint64_t id, uint32_t credit,
                        absl::string_view pattern = "",
                        uint32_t max_payload_bytes = 0,
                        uint64_t timeout_us = 0) {
  v1::MonitorRequest request;
  request.set_pattern(std::string(pattern));
  request.set_max_payload_bytes(max_payload_bytes);
  v1::Header header;
  header.mutable_call()->set_service(std::string(kBrokerService));
  header.mutable_call()->set_method(std::string(kMonitorMethod));
  header.mutable_call()->set_timeout_us(timeout_us);
  if (credit > 0) {
    header.mutable_call()->mutable_stream()->set_initial_credit(credit);
  }
  return FrameOf(wire::Kind::kCall, id, &header, request.SerializeAsString());
}

wire::Frame MonitoredStreamCall(uint64_t id, uint32_t credit) {
  v1::Header header;
  header.mutable_call()->set_service("video.frames");
  header.mutable_call()->set_method("PlayClip");
  header.mutable_call()->mutable_stream()->set_initial_credit(credit);
  return FrameOf(wire::Kind::kCall, id, &header, "clip");
}

wire::Frame MonitoredCredit(uint64_t id, uint32_t grant) {
  v1::Header header;
  header.mutable_credit()->set_grant(grant);
  return FrameOf(wire::Kind::kCredit, id, &header);
}

wire::Frame Cancel(uint64_t id) {
  return FrameOf(wire::Kind::kCancel, id, nullptr);
}

wire::Frame Publish(absl::string_view topic, absl::string_view payload = "m") {
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  header.mutable_publish()->set_message_type("demo.Tick");
  return FrameOf(wire::Kind::kPublish, 0, &header, payload);
}

class MonitorHubTest : public testing::Test {
 protected:
  MonitorHubTest()
      : router_(Config(), outbox_,
                [](const std::vector<Fd>&) { return absl::OkStatus(); }) {
    for (const auto& [peer, name] :
         std::vector<std::pair<Peer, std::string>>{{kCaller, "caller"},
                                                   {kCallee, "callee"},
                                                   {kThird, "third"},
                                                   {kWatcher, "watcher"},
                                                   {kRoot, "root"}}) {
      router_.OnSessionOpened(SessionInfo{peer, name, "unix", "", kT0, {}},
                              kT0);
    }
    const v1::Header claim = *Register(1, "video.frames").ParseHeader();
    Handle(kCallee,
           FrameOf(wire::Kind::kRegisterName, 1, &claim, VideoSchemaText()));
    outbox_.Take();
  }

  static RouterConfig Config() {
    RouterConfig config;
    config.max_queued_bytes = 1000;
    config.default_call_timeout = absl::Seconds(30);
    config.broker_uid = kBrokerUid;
    return config;
  }

  void Handle(const Peer& from, wire::Frame frame, absl::Time now = kT0) {
    router_.OnFrame(from, std::move(frame), now);
  }

  // kWatcher starts monitor kMonitorId; nothing is answered yet.
  void StartMonitor(uint32_t credit, absl::string_view pattern = "",
                    uint32_t max_payload_bytes = 0, uint64_t timeout_us = 0) {
    Handle(kWatcher, MonitorCall(kMonitorId, credit, pattern, max_payload_bytes,
                                 timeout_us));
    EXPECT_TRUE(outbox_.Take().empty());
    EXPECT_EQ(router_.monitors().size(), 1u);
  }

  // Takes what was sent; returns the events the watcher got (each checked
  // to be a MORE reply on its monitor) and keeps the rest in `others_`.
  std::vector<Event> TakeEvents() {
    std::vector<Event> events;
    others_.clear();
    for (FakeOutbox::Sent& sent : outbox_.Take()) {
      if (sent.to != kWatcher.id) {
        others_.push_back(std::move(sent));
        continue;
      }
      EXPECT_EQ(sent.frame.kind(), wire::Kind::kReply);
      EXPECT_EQ(sent.frame.request_id(), kMonitorId);
      EXPECT_EQ(sent.frame.prefix().sender, 0u);
      EXPECT_NE(sent.frame.prefix().flags & wire::kFlagMore, 0);
      EXPECT_TRUE(ReplyStatus(sent.frame).ok());
      Event event;
      EXPECT_TRUE(event.ParseFromString(std::string(sent.frame.payload())));
      events.push_back(std::move(event));
    }
    return events;
  }

  // Sends a CALL to video.frames/GetFrame from kCaller; returns the
  // broker's id the callee sees.
  uint64_t ForwardCall(uint64_t id, uint64_t timeout_us = 0) {
    Handle(kCaller, Call(id, "video.frames", "request", timeout_us));
    for (const FakeOutbox::Sent& sent : outbox_.sent) {
      if (sent.to == kCallee.id) return sent.frame.request_id();
    }
    ADD_FAILURE() << "the call was not forwarded";
    return 0;
  }

  // The one final broker REPLY the watcher got, ending its monitor.
  absl::Status MonitorEnd() {
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) return absl::UnknownError("no end");
    EXPECT_EQ(sent[0].to, kWatcher.id);
    EXPECT_EQ(sent[0].frame.request_id(), kMonitorId);
    EXPECT_EQ(sent[0].frame.prefix().flags & wire::kFlagMore, 0);
    EXPECT_EQ(router_.monitors().size(), 0u);
    return ReplyStatus(sent[0].frame);
  }

  FakeOutbox outbox_;
  Router router_;
  std::vector<FakeOutbox::Sent> others_;
};

TEST_F(MonitorHubTest, OnlyTheBrokersUserAndRootMayMonitor) {
  Handle(kCaller, MonitorCall(7, 1));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[0].frame.request_id(), 7u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(router_.monitors().empty());

  Handle(kRoot, MonitorCall(7, 1));
  Handle(kWatcher, MonitorCall(7, 1));
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.monitors().size(), 2u);
}

TEST_F(MonitorHubTest, AMonitorMustBeAStreamWithAValidRequest) {
  auto expect_refused = [&](wire::Frame frame) {
    Handle(kWatcher, std::move(frame));
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
              absl::StatusCode::kInvalidArgument)
        << ReplyStatus(sent[0].frame);
  };
  expect_refused(MonitorCall(7, 0));  // not a stream
  v1::Header zero = *MonitorCall(7, 1).ParseHeader();
  zero.mutable_call()->mutable_stream()->set_initial_credit(0);
  expect_refused(FrameOf(wire::Kind::kCall, 7, &zero));  // credit 0
  expect_refused(MonitorCall(7, 1, "video..frames"));
  expect_refused(MonitorCall(7, 1, "video.>.x"));
  v1::Header header = *MonitorCall(7, 1).ParseHeader();
  expect_refused(FrameOf(wire::Kind::kCall, 7, &header, "\xff\xff\xff"));
  wire::Frame with_fds = MonitorCall(7, 1);
  with_fds.set_fds(EventFds(1));
  expect_refused(std::move(with_fds));
  EXPECT_TRUE(router_.monitors().empty());
}

TEST_F(MonitorHubTest, ACallAndItsReplyBecomeTwoEvents) {
  StartMonitor(10);
  const uint64_t call_id = ForwardCall(7);
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_EQ(others_.size(), 1u);  // the call itself still goes through
  const Event& call = events[0];
  EXPECT_EQ(call.kind(), Event::KIND_CALL);
  EXPECT_EQ(call.call_id(), call_id);
  EXPECT_EQ(call.from(), kCaller.id.value());
  EXPECT_EQ(call.from_name(), "caller");
  EXPECT_EQ(call.to(), kCallee.id.value());
  EXPECT_EQ(call.to_name(), "callee");
  EXPECT_EQ(call.service(), "video.frames");
  EXPECT_EQ(call.method(), "GetFrame");
  EXPECT_EQ(call.type(), "switchboard.v1.MonitorRequest");  // from the schema
  EXPECT_EQ(call.payload(), "request");
  EXPECT_EQ(call.payload_size(), 7u);
  EXPECT_EQ(call.code(), 0);
  EXPECT_EQ(call.missed_before(), 0u);
  EXPECT_EQ(call.time_unix_us(),
            static_cast<uint64_t>(absl::ToUnixMicros(kT0)));

  Handle(kCallee, Reply(call_id, "the-response"));
  events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_EQ(others_.size(), 1u);
  EXPECT_EQ(others_[0].to, kCaller.id);
  const Event& reply = events[0];
  EXPECT_EQ(reply.kind(), Event::KIND_REPLY);
  EXPECT_EQ(reply.call_id(), call_id);
  EXPECT_EQ(reply.from(), kCallee.id.value());
  EXPECT_EQ(reply.from_name(), "callee");
  EXPECT_EQ(reply.to(), kCaller.id.value());
  EXPECT_EQ(reply.to_name(), "caller");
  EXPECT_EQ(reply.service(), "video.frames");
  EXPECT_EQ(reply.method(), "GetFrame");
  EXPECT_EQ(reply.type(), "switchboard.v1.MonitorEvent");
  EXPECT_EQ(reply.code(), 0);
  EXPECT_EQ(reply.payload(), "the-response");
  EXPECT_EQ(reply.payload_size(), 12u);
  EXPECT_EQ(router_.stats().monitor_events, 2u);
}

TEST_F(MonitorHubTest, ACallWithoutOwnerShowsTheBrokersAnswer) {
  StartMonitor(10);
  Handle(kCaller, Call(7, "nobody.home"));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind(), Event::KIND_CALL);
  EXPECT_EQ(events[0].service(), "nobody.home");
  EXPECT_EQ(events[0].from(), kCaller.id.value());
  EXPECT_EQ(events[0].to(), 0u);
  EXPECT_EQ(events[1].kind(), Event::KIND_REPLY);
  EXPECT_EQ(events[1].from(), 0u);
  EXPECT_EQ(events[1].to(), kCaller.id.value());
  EXPECT_EQ(events[1].service(), "nobody.home");
  EXPECT_EQ(events[1].method(), "GetFrame");
  EXPECT_EQ(events[1].code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_FALSE(events[1].status_message().empty());
  ASSERT_EQ(others_.size(), 1u);
  EXPECT_EQ(ReplyStatus(others_[0].frame).code(), absl::StatusCode::kNotFound);
}

TEST_F(MonitorHubTest, QuotaRefusalsShowAsTheBrokersReplies) {
  StartMonitor(10);
  // The callee's queue is over the quota: the call never reaches it.
  outbox_.queued[kCallee.id] = 1001;
  Handle(kCaller, Call(7, "video.frames"));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind(), Event::KIND_CALL);
  EXPECT_EQ(events[0].to(), kCallee.id.value());
  EXPECT_EQ(events[1].kind(), Event::KIND_REPLY);
  EXPECT_EQ(events[1].from(), 0u);
  EXPECT_EQ(events[1].code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  outbox_.queued[kCallee.id] = 0;

  // The reply does not fit the caller's queue: the caller gets the
  // broker's RESOURCE_EXHAUSTED instead, and so does the monitor.
  const uint64_t call_id = ForwardCall(8);
  TakeEvents();
  outbox_.queued[kCaller.id] = 999;
  Handle(kCallee, Reply(call_id, "a reply too big for the room left"));
  events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), Event::KIND_REPLY);
  EXPECT_EQ(events[0].call_id(), call_id);
  EXPECT_EQ(events[0].from(), 0u);
  EXPECT_EQ(events[0].to(), kCaller.id.value());
  EXPECT_EQ(events[0].method(), "GetFrame");
  EXPECT_EQ(events[0].code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(router_.monitors().FindCall(RequestId(call_id)), nullptr);
}

TEST_F(MonitorHubTest, StreamRepliesAreEventsOfTheirOwnKind) {
  StartMonitor(10);
  Handle(kCaller, MonitoredStreamCall(7, 5));
  uint64_t call_id = 0;
  for (const FakeOutbox::Sent& sent : outbox_.sent) {
    if (sent.to == kCallee.id) call_id = sent.frame.request_id();
  }
  TakeEvents();
  wire::Frame more = Reply(call_id, "frame-0");
  more.set_flags(wire::kFlagMore);
  Handle(kCallee, std::move(more));
  Handle(kCallee, Reply(call_id, ""));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind(), Event::KIND_STREAM_REPLY);
  EXPECT_EQ(events[0].call_id(), call_id);
  EXPECT_EQ(events[0].method(), "PlayClip");
  EXPECT_EQ(events[0].payload(), "frame-0");
  EXPECT_EQ(events[1].kind(), Event::KIND_REPLY);
  EXPECT_EQ(events[1].call_id(), call_id);
  EXPECT_EQ(events[1].to(), kCaller.id.value());
}

TEST_F(MonitorHubTest, ACancelShowsAndSoDoesItsAnswer) {
  StartMonitor(10);
  const uint64_t call_id = ForwardCall(7);
  TakeEvents();
  Handle(kCaller, Cancel(7));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind(), Event::KIND_CANCEL);
  EXPECT_EQ(events[0].call_id(), call_id);
  EXPECT_EQ(events[0].from(), kCaller.id.value());
  EXPECT_EQ(events[0].to(), kCallee.id.value());
  EXPECT_EQ(events[0].service(), "video.frames");
  EXPECT_EQ(events[1].kind(), Event::KIND_REPLY);
  EXPECT_EQ(events[1].to(), kCaller.id.value());
  EXPECT_EQ(events[1].code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(events[1].method(), "GetFrame");
}

TEST_F(MonitorHubTest, ADeadlineShowsAsTheBrokersReply) {
  StartMonitor(10);
  const uint64_t call_id = ForwardCall(7, 1000);
  TakeEvents();
  router_.ExpireCalls(kT0 + absl::Seconds(1));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), Event::KIND_REPLY);
  EXPECT_EQ(events[0].call_id(), call_id);
  EXPECT_EQ(events[0].from(), 0u);
  EXPECT_EQ(events[0].to(), kCaller.id.value());
  EXPECT_EQ(events[0].service(), "video.frames");
  EXPECT_EQ(events[0].code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  // The monitor itself has no deadline.
  EXPECT_EQ(router_.monitors().size(), 1u);
}

TEST_F(MonitorHubTest, ACalleeThatGoesShowsAsUnavailable) {
  StartMonitor(10);
  const uint64_t call_id = ForwardCall(7);
  TakeEvents();
  router_.ForgetSession(kCallee.id);
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), Event::KIND_REPLY);
  EXPECT_EQ(events[0].call_id(), call_id);
  EXPECT_EQ(events[0].to(), kCaller.id.value());
  EXPECT_EQ(events[0].code(), static_cast<int>(absl::StatusCode::kUnavailable));
}

TEST_F(MonitorHubTest, ACallerThatGoesShowsAsTheBrokersCancel) {
  StartMonitor(10);
  const uint64_t call_id = ForwardCall(7);
  TakeEvents();
  EXPECT_NE(router_.monitors().FindCall(RequestId(call_id)), nullptr);
  router_.ForgetSession(kCaller.id);
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), Event::KIND_CANCEL);
  EXPECT_EQ(events[0].call_id(), call_id);
  EXPECT_EQ(events[0].from(), 0u);
  EXPECT_EQ(events[0].to(), kCallee.id.value());
  EXPECT_EQ(events[0].service(), "video.frames");
  // The call is over: the table that describes its replies lets it go.
  EXPECT_EQ(router_.monitors().FindCall(RequestId(call_id)), nullptr);
  Handle(kCallee, Reply(call_id));
  EXPECT_TRUE(TakeEvents().empty());
}

TEST_F(MonitorHubTest, APublishShowsItsTopicTypeAndDeliveries) {
  v1::Header subscribe;
  subscribe.mutable_subscribe()->set_subscription_id(1);
  subscribe.mutable_subscribe()->set_pattern("t.>");
  Handle(kCaller, FrameOf(wire::Kind::kSubscribe, 3, &subscribe));
  Handle(kCallee, FrameOf(wire::Kind::kSubscribe, 3, &subscribe));
  outbox_.Take();
  StartMonitor(10);
  Handle(kThird, Publish("t.x", "tick"));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), Event::KIND_PUBLISH);
  EXPECT_EQ(events[0].topic(), "t.x");
  EXPECT_EQ(events[0].type(), "demo.Tick");
  EXPECT_EQ(events[0].from(), kThird.id.value());
  EXPECT_EQ(events[0].from_name(), "third");
  EXPECT_EQ(events[0].delivered(), 2u);
  EXPECT_EQ(events[0].payload(), "tick");
  EXPECT_EQ(events[0].call_id(), 0u);
}

TEST_F(MonitorHubTest, ThePatternChoosesTopicsAndMethods) {
  Handle(kWatcher, MonitorCall(kMonitorId, 10, "video.frames.GetFrame"));
  Handle(kRoot, MonitorCall(kMonitorId, 10, "t.*"));
  ASSERT_EQ(router_.monitors().size(), 2u);
  Handle(kThird, Publish("t.x"));
  Handle(kThird, Publish("t.x.y"));
  Handle(kThird, Publish("u.x"));
  const uint64_t call_id = ForwardCall(7);
  Handle(kCallee, Reply(call_id));
  Handle(kCaller, Call(8, "video.frames", "r", 0, "PlayClip"));
  std::vector<std::pair<SessionId, Event::Kind>> seen;
  for (const FakeOutbox::Sent& sent : outbox_.Take()) {
    if (sent.to != kWatcher.id && sent.to != kRoot.id) continue;
    Event event;
    ASSERT_TRUE(event.ParseFromString(std::string(sent.frame.payload())));
    if (event.kind() == Event::KIND_PUBLISH) {
      EXPECT_EQ(event.topic(), "t.x");
    } else {
      EXPECT_EQ(event.method(), "GetFrame");
    }
    seen.emplace_back(sent.to, event.kind());
  }
  EXPECT_EQ(seen, (std::vector<std::pair<SessionId, Event::Kind>>{
                      {kRoot.id, Event::KIND_PUBLISH},
                      {kWatcher.id, Event::KIND_CALL},
                      {kWatcher.id, Event::KIND_REPLY}}));
}

TEST_F(MonitorHubTest, EventsBeyondTheCreditAreCountedAndReported) {
  StartMonitor(2);
  for (int i = 0; i < 5; ++i) Handle(kThird, Publish("t.x"));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].missed_before(), 0u);
  EXPECT_EQ(events[1].missed_before(), 0u);
  EXPECT_EQ(router_.stats().monitor_missed, 3u);

  Handle(kWatcher, MonitoredCredit(kMonitorId, 2));
  EXPECT_TRUE(outbox_.Take().empty());  // a monitor's CREDIT goes nowhere
  Handle(kThird, Publish("t.x"));
  Handle(kThird, Publish("t.x"));
  Handle(kThird, Publish("t.x"));
  events = TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].missed_before(), 3u);
  EXPECT_EQ(events[1].missed_before(), 0u);
  Handle(kWatcher, MonitoredCredit(kMonitorId, 1));
  Handle(kThird, Publish("t.x"));
  events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].missed_before(), 1u);
}

TEST_F(MonitorHubTest, EventsThatFindTheQueueFullAreCounted) {
  StartMonitor(10);
  outbox_.queued[kWatcher.id] = 999;
  Handle(kThird, Publish("t.x"));
  Handle(kThird, Publish("t.x"));
  EXPECT_TRUE(TakeEvents().empty());
  outbox_.queued[kWatcher.id] = 0;
  Handle(kThird, Publish("t.x"));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].missed_before(), 2u);
}

TEST_F(MonitorHubTest, PayloadsAreCutButTheirSizeIsWhole) {
  StartMonitor(10, "", 3);
  ForwardCall(7);
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload(), "req");
  EXPECT_EQ(events[0].payload_size(), 7u);
}

TEST_F(MonitorHubTest, PayloadsAreCutAtOneMebibyteAtMost) {
  StartMonitor(10, "", 4 * kMaxMonitorPayloadBytes);
  const std::string big(kMaxMonitorPayloadBytes + 10, 'x');
  Handle(kThird, Publish("t.big", big));
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload().size(), kMaxMonitorPayloadBytes);
  EXPECT_EQ(events[0].payload_size(), big.size());
}

TEST_F(MonitorHubTest, TheBrokersOwnTrafficIsNotMonitored) {
  v1::Header subscribe;
  subscribe.mutable_subscribe()->set_subscription_id(1);
  subscribe.mutable_subscribe()->set_pattern("switchboard.>");
  Handle(kThird, FrameOf(wire::Kind::kSubscribe, 3, &subscribe));
  outbox_.Take();
  StartMonitor(10);
  // PING, SUBSCRIBE, UNSUBSCRIBE and a CREDIT for no call.
  Handle(kCaller, FrameOf(wire::Kind::kPing, 5, nullptr));
  subscribe.mutable_subscribe()->set_subscription_id(2);
  Handle(kCaller, FrameOf(wire::Kind::kSubscribe, 6, &subscribe));
  v1::Header unsubscribe;
  unsubscribe.mutable_unsubscribe()->set_subscription_id(2);
  Handle(kCaller, FrameOf(wire::Kind::kUnsubscribe, 7, &unsubscribe));
  Handle(kCaller, MonitoredCredit(8, 1));
  // The broker's own publishes: a connection comes and goes, a name moves.
  const Peer late{SessionId(9), 1, 9};
  router_.OnSessionOpened(SessionInfo{late, "late", "unix", "", kT0, {}}, kT0);
  Handle(late, Register(1, "late.name"));
  router_.ForgetSession(late.id);
  EXPECT_TRUE(TakeEvents().empty());
  EXPECT_FALSE(outbox_.TakeMessages().empty());  // the subscriber got them
  EXPECT_EQ(router_.stats().monitor_missed, 0u);
}

TEST_F(MonitorHubTest, TheMonitorsCancelEndsIt) {
  StartMonitor(10);
  Handle(kWatcher, Cancel(kMonitorId));
  EXPECT_EQ(MonitorEnd().code(), absl::StatusCode::kCancelled);
  Handle(kThird, Publish("t.x"));
  EXPECT_TRUE(outbox_.Take().empty());
}

TEST_F(MonitorHubTest, AMonitorEndsAtItsDeadline) {
  StartMonitor(10, "", 0, 2'000'000);
  EXPECT_EQ(router_.NextDeadline(), kT0 + absl::Seconds(2));
  router_.ExpireCalls(kT0 + absl::Seconds(1));
  EXPECT_TRUE(outbox_.Take().empty());
  router_.ExpireCalls(kT0 + absl::Seconds(2));
  EXPECT_EQ(MonitorEnd().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(router_.NextDeadline(), std::nullopt);
}

TEST_F(MonitorHubTest, AMonitorEndsWithItsSession) {
  StartMonitor(10);
  router_.ForgetSession(kWatcher.id);
  EXPECT_TRUE(router_.monitors().empty());
  ForwardCall(7);
  for (const FakeOutbox::Sent& sent : outbox_.Take()) {
    EXPECT_NE(sent.to, kWatcher.id);
  }
}

TEST_F(MonitorHubTest, ShuttingDownEndsMonitors) {
  StartMonitor(10);
  router_.FailAllCalls(absl::UnavailableError("the broker is shutting down"));
  EXPECT_EQ(MonitorEnd().code(), absl::StatusCode::kUnavailable);
}

TEST_F(MonitorHubTest, CallsToTheBrokerAreNotMonitored) {
  StartMonitor(10);
  v1::GetStatusRequest request;
  Handle(kCaller,
         Call(7, kBrokerService, request.SerializeAsString(), 0, "GetStatus"));
  Handle(kCaller, Call(8, kBrokerService, "", 0, "NoSuchMethod"));
  EXPECT_TRUE(TakeEvents().empty());
  EXPECT_EQ(others_.size(), 2u);
}

TEST_F(MonitorHubTest, AMonitorsRequestIdIsInUse) {
  StartMonitor(10);
  Handle(kWatcher, Call(kMonitorId, "video.frames"));
  // The refusal is the broker's answer to a call, so the monitor sees it
  // too, as two events before the answer itself.
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 3u);
  for (const FakeOutbox::Sent& s : sent) EXPECT_EQ(s.to, kWatcher.id);
  EXPECT_NE(sent[1].frame.prefix().flags & wire::kFlagMore, 0);
  Event refusal;
  ASSERT_TRUE(refusal.ParseFromString(std::string(sent[1].frame.payload())));
  EXPECT_EQ(refusal.kind(), Event::KIND_REPLY);
  EXPECT_EQ(refusal.code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(sent[2].frame.prefix().flags & wire::kFlagMore, 0);
  EXPECT_EQ(sent[2].frame.request_id(), kMonitorId);
  EXPECT_EQ(ReplyStatus(sent[2].frame).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.calls().size(), 0u);
  Handle(kWatcher, MonitorCall(kMonitorId, 1));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.monitors().size(), 1u);
  // Another connection's ids are its own.
  Handle(kRoot, MonitorCall(kMonitorId, 1));
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.monitors().size(), 2u);
}

}  // namespace
}  // namespace switchboard::core
