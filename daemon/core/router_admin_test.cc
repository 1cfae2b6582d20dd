// SPDX-License-Identifier: MIT
//
// switchboard.Broker, the service the router answers itself
// (docs/PROTOCOL.md 5.6).
#include <string>
#include <utility>
#include <vector>

#include "daemon/core/frames.h"
#include "daemon/core/router.h"
#include "daemon/core/router_test_fixture.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::core {
namespace {

wire::Frame StatusCall(uint64_t id, absl::string_view method = "GetStatus") {
  v1::GetStatusRequest request;
  return Call(id, kBrokerService, request.SerializeAsString(), 0, method);
}

class RouterAdminTest : public RouterTest {
 protected:
  v1::BrokerStatus GetStatus(const Peer& from, absl::Time now) {
    Handle(from, StatusCall(5), now);
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    v1::BrokerStatus status;
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) return status;
    EXPECT_EQ(sent[0].to, from.id);
    EXPECT_EQ(sent[0].frame.request_id(), 5u);
    EXPECT_EQ(sent[0].frame.prefix().sender, 0u);
    EXPECT_TRUE(ReplyStatus(sent[0].frame).ok()) << ReplyStatus(sent[0].frame);
    EXPECT_TRUE(status.ParseFromString(std::string(sent[0].frame.payload())));
    return status;
  }
};

TEST_F(RouterAdminTest, GetStatusReportsCountersAndEverySubscription) {
  router_.OnSessionOpened(SessionInfo{kCaller, "caller", "unix", "", kT0}, kT0);
  router_.OnSessionOpened(SessionInfo{kCallee, "callee", "unix", "", kT0}, kT0);
  ServeVideo();
  ForwardCall(7);
  v1::Header subscribe;
  subscribe.mutable_subscribe()->set_subscription_id(3);
  subscribe.mutable_subscribe()->set_pattern("t.>");
  subscribe.mutable_subscribe()->set_max_messages(2);
  subscribe.mutable_subscribe()->set_policy(v1::OVERFLOW_POLICY_DROP_NEWEST);
  Handle(kCallee, FrameOf(wire::Kind::kSubscribe, 8, &subscribe));
  outbox_.Take();
  v1::Header publish;
  publish.mutable_publish()->set_topic("t.x");
  for (int i = 0; i < 3; ++i) {
    Handle(kThird, FrameOf(wire::Kind::kPublish, 0, &publish, "abc"));
  }
  const size_t message_bytes = outbox_.messages[0].frame->bytes().size();
  outbox_.total_traffic = Traffic{10, 20, 300, 400};
  router_.SampleTraffic(kT0);
  outbox_.total_traffic = Traffic{30, 60, 1300, 2400};
  router_.SampleTraffic(kT0 + absl::Milliseconds(500));
  outbox_.total_traffic = Traffic{31, 61, 1301, 2401};

  const v1::BrokerStatus status =
      GetStatus(kCaller, kT0 + absl::Milliseconds(1500));
  EXPECT_EQ(status.version(), "9.8.7");
  EXPECT_EQ(status.uptime_us(), 13'500'000u);  // started 12 s before kT0
  EXPECT_EQ(status.connections(), 2u);
  EXPECT_EQ(status.names(), 1u);
  EXPECT_EQ(status.calls(), 2u);  // the forwarded one and this one
  EXPECT_EQ(status.publishes(), 3u);
  EXPECT_EQ(status.messages_delivered(), 2u);
  EXPECT_EQ(status.messages_dropped(), 1u);
  // Totals now; rates between the last two samples (0.5 s apart).
  EXPECT_EQ(status.frames_in(), 31u);
  EXPECT_EQ(status.frames_out(), 61u);
  EXPECT_EQ(status.bytes_in(), 1301u);
  EXPECT_EQ(status.bytes_out(), 2401u);
  EXPECT_DOUBLE_EQ(status.frames_in_per_s(), 40.0);
  EXPECT_DOUBLE_EQ(status.frames_out_per_s(), 80.0);
  EXPECT_DOUBLE_EQ(status.bytes_in_per_s(), 2000.0);
  EXPECT_DOUBLE_EQ(status.bytes_out_per_s(), 4000.0);
  ASSERT_EQ(status.subscriptions_size(), 1);
  const v1::SubscriptionStatus& s = status.subscriptions(0);
  EXPECT_EQ(s.connection_id(), kCallee.id.value());
  EXPECT_EQ(s.subscription_id(), 3u);
  EXPECT_EQ(s.pattern(), "t.>");
  EXPECT_EQ(s.policy(), "drop_newest");
  EXPECT_EQ(s.max_messages(), 2u);
  EXPECT_EQ(s.max_bytes(), 1000u);
  EXPECT_EQ(s.queued_messages(), 2u);
  EXPECT_EQ(s.queued_bytes(), 2 * message_bytes);
  EXPECT_EQ(s.delivered(), 2u);
  EXPECT_EQ(s.dropped(), 1u);
}

TEST_F(RouterAdminTest, OtherMethodsStreamsAndBuffersAreRefused) {
  Handle(kCaller, StatusCall(5, "Shutdown"));
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kUnimplemented);

  wire::Frame stream = StatusCall(6);
  v1::Header header = *stream.ParseHeader();
  header.mutable_call()->mutable_stream()->set_initial_credit(1);
  Handle(kCaller, FrameOf(wire::Kind::kCall, 6, &header));
  ExpectAnswer(kCaller.id, 6, absl::StatusCode::kInvalidArgument);

  wire::Frame with_fds = StatusCall(7);
  with_fds.set_fds(EventFds(1));
  Handle(kCaller, std::move(with_fds));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kInvalidArgument);

  Handle(kCaller, Call(8, kBrokerService, "\xff\xff", 0, "GetStatus"));
  ExpectAnswer(kCaller.id, 8, absl::StatusCode::kInvalidArgument);
  Handle(kCaller, StatusCall(0));
  ExpectAnswer(kCaller.id, 0, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(RouterAdminTest, NobodyMayClaimTheBrokersName) {
  Handle(kCallee, Register(1, kBrokerService));
  ExpectAnswer(kCallee.id, 1, absl::StatusCode::kInvalidArgument);
  // The broker still answers.
  EXPECT_EQ(GetStatus(kCaller, kT0).version(), "9.8.7");
}

TEST_F(RouterAdminTest, AStatusThatDoesNotFitTheCallersQueueIsRefused) {
  outbox_.queued[kCaller.id] = 999;
  Handle(kCaller, StatusCall(5));
  ExpectAnswer(kCaller.id, 5, absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace switchboard::core
