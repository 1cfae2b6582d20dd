// SPDX-License-Identifier: MIT
//
// CallRouter through the router's entry points: forwarding, refusals,
// quotas, deadlines, cancels, disconnects and descriptors. Streams are in
// call_router_streams_test.cc, activation in call_router_activation_test.cc.
#include "daemon/core/call_router.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "daemon/core/router.h"
#include "daemon/core/router_test_fixture.h"
#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

class CallRouterTest : public RouterTest {};
TEST_F(CallRouterTest,
       CallIsForwardedToTheOwnerWithABrokerIdAndTheCallerStamped) {
  ServeVideo();
  wire::Frame original = Call(7, "video.frames", "request-bytes");
  const std::string header_bytes(original.header_bytes());
  Handle(kCaller, std::move(original));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCallee.id);
  const wire::Frame& forwarded = sent[0].frame;
  EXPECT_EQ(forwarded.kind(), wire::Kind::kCall);
  EXPECT_EQ(forwarded.request_id(), 1u);
  EXPECT_EQ(forwarded.prefix().sender, 1u);
  EXPECT_EQ(forwarded.prefix().sender_uid, 1000u);
  EXPECT_EQ(forwarded.prefix().sender_pid, 111u);
  EXPECT_EQ(forwarded.header_bytes(), header_bytes);
  EXPECT_EQ(forwarded.payload(), "request-bytes");
  // The encoded prefix was stamped too, not only the decoded copy.
  absl::StatusOr<wire::Prefix> reread = wire::DecodePrefix(forwarded.bytes());
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->request_id, 1u);
  EXPECT_EQ(reread->sender, 1u);
  EXPECT_EQ(router_.stats().calls_forwarded, 1u);
}

TEST_F(CallRouterTest, ForwardingPassesTheSameBufferOnWithoutCopying) {
  ServeVideo();
  wire::Frame call = Call(7, "video.frames", std::string(4096, 'p'));
  const char* payload_bytes = call.payload().data();
  Handle(kCaller, std::move(call));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame.payload().data(), payload_bytes);

  wire::Frame reply = Reply(1, std::string(4096, 'r'));
  const char* reply_bytes = reply.payload().data();
  Handle(kCallee, std::move(reply));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame.payload().data(), reply_bytes);
}

TEST_F(CallRouterTest, ReplyReachesTheCallerWithItsOwnIdAndTheCalleeAsSender) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7);
  Handle(kCallee, Reply(forwarded.request_id(), "frame-bytes"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[0].frame.kind(), wire::Kind::kReply);
  EXPECT_EQ(sent[0].frame.request_id(), 7u);
  EXPECT_EQ(sent[0].frame.prefix().sender, 2u);
  EXPECT_EQ(sent[0].frame.prefix().sender_uid, 1001u);
  EXPECT_EQ(sent[0].frame.prefix().sender_pid, 222u);
  EXPECT_EQ(sent[0].frame.payload(), "frame-bytes");
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterTest, CallToAServiceNobodyOwnsGetsNotFound) {
  Handle(kCaller, Call(7, "video.frames"));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kNotFound);
  EXPECT_EQ(router_.stats().calls_refused, 1u);
}

TEST_F(CallRouterTest, CallWithRequestIdZeroGetsInvalidArgument) {
  ServeVideo();
  Handle(kCaller, Call(0, "video.frames"));
  ExpectAnswer(kCaller.id, 0, absl::StatusCode::kInvalidArgument);
}

TEST_F(CallRouterTest, CallReusingAPendingRequestIdGetsInvalidArgument) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7);
  Handle(kCaller, Call(7, "video.frames"));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kInvalidArgument);
  // The first call is untouched, and once answered the id is free again.
  Handle(kCallee, Reply(forwarded.request_id()));
  outbox_.Take();
  ForwardCall(7);
}

TEST_F(CallRouterTest, SameRequestIdFromDifferentCallersIsFine) {
  ServeVideo();
  ForwardCall(7);
  Handle(kThird, Call(7, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCallee.id);
}

TEST_F(CallRouterTest, MalformedServiceOrMethodNameGetsInvalidArgument) {
  ServeVideo();
  Handle(kCaller, Call(7, "video..frames"));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kInvalidArgument);
  Handle(kCaller, Call(8, "video.frames", "", 0, "Get Frame"));
  ExpectAnswer(kCaller.id, 8, absl::StatusCode::kInvalidArgument);
  Handle(kCaller, Call(9, "video.frames", "", 0, ""));
  ExpectAnswer(kCaller.id, 9, absl::StatusCode::kInvalidArgument);
}

TEST_F(CallRouterTest,
       CallBeyondMaxPendingCallsIsRefusedAndNeverReachesTheCallee) {
  ServeVideo();
  for (uint64_t id = 1; id <= 3; ++id) ForwardCall(id);
  Handle(kCaller, Call(4, "video.frames"));
  ExpectAnswer(kCaller.id, 4, absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(router_.calls().CountForCallee(kCallee.id), 3u);
}

TEST_F(CallRouterTest, CallToACalleeWhoseQueueIsFullIsRefused) {
  ServeVideo();
  outbox_.queued[kCallee.id] = 990;
  Handle(kCaller, Call(7, "video.frames", std::string(100, 'x')));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterTest, FrameLargerThanTheQuotaStillGoesToAnEmptyQueue) {
  ServeVideo();
  Handle(kCaller, Call(7, "video.frames", std::string(5000, 'x')));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCallee.id);
  Handle(kCallee, Reply(sent[0].frame.request_id(), std::string(5000, 'y')));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame.payload().size(), 5000u);
}

TEST_F(CallRouterTest,
       ReplyThatDoesNotFitTheCallersQuotaBecomesResourceExhausted) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7);
  outbox_.queued[kCaller.id] = 500;
  Handle(kCallee, Reply(forwarded.request_id(), std::string(600, 'x')));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(router_.stats().replies_over_quota, 1u);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterTest, CallToACalleeWhoseUidHoldsItsQuotaIsRefusedNamingIt) {
  ServeVideo();
  outbox_.uid_room[kCallee.id] = absl::ResourceExhaustedError(
      "the connections of uid 1001 hold 10 bytes ... "
      "(--max-queued-bytes-per-uid)");
  Handle(kCaller, Call(7, "video.frames", std::string(100, 'x')));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  const absl::Status status = ReplyStatus(sent[0].frame);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(),
            "service 'video.frames' (:2) cannot take the call: "
            "the connections of uid 1001 hold 10 bytes ... "
            "(--max-queued-bytes-per-uid)");
  EXPECT_EQ(router_.calls().size(), 0u);
  EXPECT_EQ(router_.stats().calls_refused, 1u);
  ASSERT_FALSE(outbox_.uid_room_asked.empty());
  EXPECT_EQ(outbox_.uid_room_asked.back().session, kCallee.id);
}

TEST_F(CallRouterTest, ReplyOverTheCallersUidQuotaBecomesResourceExhausted) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7);
  outbox_.uid_room[kCaller.id] = absl::ResourceExhaustedError("uid quota");
  Handle(kCallee, Reply(forwarded.request_id(), std::string(600, 'x')));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  const absl::Status status = ReplyStatus(sent[0].frame);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StartsWith(status.message(), "the reply ("));
  EXPECT_TRUE(
      absl::EndsWith(status.message(), " bytes) does not fit: uid quota"))
      << status.message();
  EXPECT_EQ(router_.stats().replies_over_quota, 1u);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterTest, DeadlineSendsDeadlineExceededToCallerAndCancelToCallee) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7, /*timeout_us=*/2'000'000);
  EXPECT_EQ(router_.NextDeadline(), kT0 + absl::Seconds(2));
  router_.ExpireCalls(kT0 + absl::Seconds(1));
  EXPECT_TRUE(outbox_.Take().empty());
  router_.ExpireCalls(kT0 + absl::Seconds(2));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[0].frame.request_id(), 7u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sent[1].to, kCallee.id);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCancel);
  EXPECT_EQ(sent[1].frame.request_id(), forwarded.request_id());
  EXPECT_EQ(sent[1].frame.prefix().sender, 0u);
  EXPECT_FALSE(router_.NextDeadline().has_value());
}

TEST_F(CallRouterTest, TimeoutZeroUsesTheDefaultAndHugeTimeoutsAreClamped) {
  ServeVideo();
  ForwardCall(1, 0);
  EXPECT_EQ(router_.NextDeadline(), kT0 + absl::Seconds(30));
  Handle(kThird, Call(1, "video.frames", "", /*timeout_us=*/~uint64_t{0}));
  outbox_.Take();
  router_.ExpireCalls(kT0 + absl::Seconds(30));
  outbox_.Take();
  EXPECT_EQ(router_.NextDeadline(), kT0 + kMaxCallTimeout);
}

TEST_F(CallRouterTest, ReplyAfterTheDeadlineIsDiscardedAndCounted) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7, 1000);
  router_.ExpireCalls(kT0 + absl::Seconds(1));
  outbox_.Take();
  Handle(kCallee, Reply(forwarded.request_id()));
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.stats().late_replies, 1u);
}

TEST_F(CallRouterTest, ReplyFromASessionTheCallWasNotRoutedToIsDiscarded) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7);
  Handle(kThird, Reply(forwarded.request_id()));
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.stats().late_replies, 1u);
  // The real callee's reply still goes through.
  Handle(kCallee, Reply(forwarded.request_id()));
  EXPECT_EQ(outbox_.Take().size(), 1u);
}

TEST_F(CallRouterTest,
       CallerCancelGetsCancelledAndTheCalleeGetsCancelWithBrokerId) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7);
  Handle(kCaller, FrameOf(wire::Kind::kCancel, 7, nullptr));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[0].frame.request_id(), 7u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sent[1].to, kCallee.id);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCancel);
  EXPECT_EQ(sent[1].frame.request_id(), forwarded.request_id());
  EXPECT_EQ(sent[1].frame.prefix().sender, 1u);
  // The callee's reply now is late: the caller got its one final reply.
  Handle(kCallee, Reply(forwarded.request_id()));
  EXPECT_TRUE(outbox_.Take().empty());
}

TEST_F(CallRouterTest, CancelForAnIdThatIsNotPendingIsIgnored) {
  ServeVideo();
  Handle(kCaller, FrameOf(wire::Kind::kCancel, 42, nullptr));
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.stats().cancels_ignored, 1u);
}

TEST_F(CallRouterTest, CalleeDisconnectingEndsItsCallsWithUnavailable) {
  ServeVideo();
  ForwardCall(7);
  ForwardCall(8);
  router_.ForgetSession(kCallee.id);
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  for (const FakeOutbox::Sent& s : sent) {
    EXPECT_EQ(s.to, kCaller.id);
    EXPECT_EQ(ReplyStatus(s.frame).code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(sent[0].frame.request_id(), 7u);
  EXPECT_EQ(sent[1].frame.request_id(), 8u);
  // Its name is gone too.
  Handle(kCaller, Call(9, "video.frames"));
  ExpectAnswer(kCaller.id, 9, absl::StatusCode::kNotFound);
}

TEST_F(CallRouterTest, CallerDisconnectingCancelsItsCallsAtTheCallee) {
  ServeVideo();
  wire::Frame forwarded = ForwardCall(7);
  router_.ForgetSession(kCaller.id);
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCallee.id);
  EXPECT_EQ(sent[0].frame.kind(), wire::Kind::kCancel);
  EXPECT_EQ(sent[0].frame.request_id(), forwarded.request_id());
  EXPECT_EQ(router_.calls().size(), 0u);
  EXPECT_FALSE(router_.NextDeadline().has_value());
}

TEST_F(CallRouterTest, CallToItselfGoesThroughTheBroker) {
  Handle(kCallee, Register(1, "video.frames"));
  outbox_.Take();
  Handle(kCallee, Call(5, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCallee.id);
  Handle(kCallee, Reply(sent[0].frame.request_id()));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame.request_id(), 5u);
  // Disconnecting with a call to itself pending sends nothing to itself.
  Handle(kCallee, Call(6, "video.frames"));
  outbox_.Take();
  router_.ForgetSession(kCallee.id);
  EXPECT_TRUE(outbox_.Take().empty());
}

TEST_F(CallRouterTest, FailAllCallsAnswersEveryCallerOnce) {
  ServeVideo();
  ForwardCall(7);
  Handle(kThird, Call(9, "video.frames"));
  outbox_.Take();
  router_.FailAllCalls(absl::UnavailableError("broker shutting down"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[1].to, kThird.id);
  EXPECT_EQ(ReplyStatus(sent[1].frame).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(router_.calls().size(), 0u);
  router_.ForgetSession(kCallee.id);
  EXPECT_TRUE(outbox_.Take().empty());
}

TEST_F(CallRouterTest, EveryCallEndsInExactlyOneFinalReply) {
  // Mixed fates, then every session leaves: each caller id is answered once.
  ServeVideo();
  std::vector<wire::Frame> forwarded;
  for (uint64_t id = 1; id <= 3; ++id)
    forwarded.push_back(ForwardCall(id, 1000 * id));
  Handle(kCallee, Reply(forwarded[0].request_id()));          // replied
  Handle(kCaller, FrameOf(wire::Kind::kCancel, 2, nullptr));  // cancelled
  router_.ExpireCalls(kT0 + absl::Milliseconds(3));           // expired
  Handle(kCallee, Reply(forwarded[1].request_id()));          // late
  Handle(kCallee, Reply(forwarded[2].request_id()));          // late
  router_.ForgetSession(kCallee.id);
  router_.ForgetSession(kCaller.id);
  std::map<uint64_t, int> finals;
  for (const FakeOutbox::Sent& s : outbox_.Take()) {
    if (s.to == kCaller.id && s.frame.kind() == wire::Kind::kReply) {
      ++finals[s.frame.request_id()];
    }
  }
  EXPECT_EQ(finals, (std::map<uint64_t, int>{{1, 1}, {2, 1}, {3, 1}}));
  EXPECT_EQ(router_.stats().late_replies, 2u);
}

}  // namespace
}  // namespace switchboard::core

namespace switchboard::core {
namespace {

// Frames with descriptors. The buffer check is faked (buffer_check_), so
// any descriptor will do; the real seal check is tested in daemon/server.
class CallRouterFdsTest : public CallRouterTest {
 protected:
  static wire::Frame WithFds(wire::Frame frame, size_t count) {
    frame.set_fds(EventFds(count));
    return frame;
  }
  // Both ends take descriptors; kCallee serves "video.frames".
  void SetUpFds() {
    outbox_.accepts_fds.insert(kCaller.id);
    outbox_.accepts_fds.insert(kCallee.id);
    ServeVideo();
  }
  static Peer WithFdsAccepted(Peer peer) {
    peer.accepts_fds = true;
    return peer;
  }
};

TEST_F(CallRouterFdsTest,
       CallAndReplyCarryTheirDescriptorsAndTheFlagIsStamped) {
  SetUpFds();
  wire::Frame call = WithFds(Call(7, "video.frames"), 2);
  const int first = call.fds()[0].get();
  Handle(WithFdsAccepted(kCaller), std::move(call));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].frame.fds().size(), 2u);
  EXPECT_EQ(sent[0].frame.fds()[0].get(), first);
  EXPECT_EQ(checked_fds_, 2u);
  EXPECT_EQ(sent[0].frame.prefix().flags, wire::kFlagSenderAcceptsFds);
  absl::StatusOr<wire::Prefix> reread =
      wire::DecodePrefix(sent[0].frame.bytes());
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->flags, wire::kFlagSenderAcceptsFds);

  Handle(kCallee, WithFds(Reply(sent[0].frame.request_id()), 1));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[0].frame.fds().size(), 1u);
  // kCallee (as a Peer) does not take descriptors: the bit is clear.
  EXPECT_EQ(sent[0].frame.prefix().flags, 0u);
}

TEST_F(CallRouterFdsTest, AFlagTheClientSetItselfIsCleared) {
  ServeVideo();
  wire::Frame call = Call(7, "video.frames");
  call.set_flags(wire::kFlagSenderAcceptsFds);
  Handle(kCaller, std::move(call));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame.prefix().flags, 0u);
  EXPECT_EQ(checked_fds_, 0u);  // no descriptors, no check
}

TEST_F(CallRouterFdsTest, CallWithBadBuffersIsAnsweredWithTheCheckersError) {
  SetUpFds();
  buffer_check_ = absl::InvalidArgumentError(
      "buffer 1 is not sealed: it lacks F_SEAL_GROW");
  Handle(kCaller, WithFds(Call(7, "video.frames"), 2));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[0].frame.request_id(), 7u);
  EXPECT_TRUE(sent[0].frame.fds().empty());
  const absl::Status status = ReplyStatus(sent[0].frame);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "buffer 1 is not sealed: it lacks F_SEAL_GROW");
  EXPECT_EQ(router_.calls().size(), 0u);
  EXPECT_EQ(router_.stats().buffers_refused, 1u);
}

TEST_F(CallRouterFdsTest,
       CallWithFdsToACalleeThatTakesNoneFailsItsPrecondition) {
  ServeVideo();
  outbox_.accepts_fds.insert(kCaller.id);
  Handle(kCaller, WithFds(Call(7, "video.frames"), 1));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterFdsTest, CallOverTheCalleesFdsInFlightQuotaIsRefused) {
  SetUpFds();
  outbox_.queued_fds[kCallee.id] = 1020;
  Handle(kCaller, WithFds(Call(7, "video.frames"), 4));  // 1024: fits
  EXPECT_EQ(outbox_.Take().size(), 1u);
  outbox_.queued_fds[kCallee.id] = 1021;
  Handle(kCaller, WithFds(Call(8, "video.frames"), 4));
  ExpectAnswer(kCaller.id, 8, absl::StatusCode::kResourceExhausted);
  // A frame always fits a receiver that holds no descriptors.
  outbox_.queued_fds[kCallee.id] = 0;
  Handle(kCaller, WithFds(Call(9, "video.frames"), 4));
  EXPECT_EQ(outbox_.Take().size(), 1u);
}

TEST_F(CallRouterFdsTest, RefusedReplyIsReplacedByItsErrorToTheCaller) {
  ServeVideo();
  outbox_.accepts_fds.insert(kCallee.id);
  wire::Frame forwarded = ForwardCall(7);
  // kCaller takes no descriptors.
  Handle(kCallee, WithFds(Reply(forwarded.request_id()), 1));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(router_.calls().size(), 0u);

  outbox_.accepts_fds.insert(kCaller.id);
  buffer_check_ = absl::InvalidArgumentError("buffer 0 is not a memfd");
  forwarded = ForwardCall(8);
  Handle(kCallee, WithFds(Reply(forwarded.request_id()), 1));
  ExpectAnswer(kCaller.id, 8, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.stats().buffers_refused, 2u);
}

// Per-uid quotas: pending calls are charged to the caller's uid.
class CallRouterQuotaTest : public RouterTest {
 protected:
  CallRouterQuotaTest() : RouterTest(QuotaConfig()) {}
};

TEST_F(CallRouterQuotaTest, PendingCallsAreChargedToTheCallersUid) {
  ServeVideo();
  Handle(kCaller, Call(1, "video.frames"));
  Handle(kCallerTwin, Call(1, "video.frames"));
  ASSERT_EQ(outbox_.Take().size(), 2u);  // both forwarded
  Handle(kCaller, Call(2, "video.frames"));
  ExpectRefused(kCaller.id, 2,
                "uid 1000 has 2 unanswered calls, its limit "
                "(--max-pending-calls-per-uid)");
  // Another uid's call still goes through; the callee pays nothing.
  Handle(kThird, Call(1, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCallee.id);
  EXPECT_EQ(Held(1001, Quota::kPendingCalls), 0u);
  EXPECT_EQ(Held(1002, Quota::kPendingCalls), 1u);
}

TEST_F(CallRouterQuotaTest, EveryWayACallEndsGivesItBack) {
  ServeVideo();
  // A reply.
  const wire::Frame forwarded = ForwardCall(1);
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 1u);
  Handle(kCallee, Reply(forwarded.request_id()));
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 0u);
  ExpectAccountsMatchTables({kCaller, kCallerTwin, kCallee, kThird});
  // A deadline.
  ForwardCall(2, /*timeout_us=*/1000);
  router_.ExpireCalls(kT0 + absl::Seconds(1));
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 0u);
  ExpectAccountsMatchTables({kCaller, kCallerTwin, kCallee, kThird});
  // The caller's CANCEL.
  ForwardCall(3);
  Handle(kCaller, FrameOf(wire::Kind::kCancel, 3, nullptr));
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 0u);
  ExpectAccountsMatchTables({kCaller, kCallerTwin, kCallee, kThird});
  // The caller gone.
  Handle(kCallerTwin, Call(1, "video.frames"));
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 1u);
  router_.ForgetSession(kCallerTwin.id, "test");
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 0u);
  ExpectAccountsMatchTables({kCaller, kCallerTwin, kCallee, kThird});
  // The callee gone.
  ForwardCall(4);
  ForwardCall(5);
  router_.ForgetSession(kCallee.id, "test");
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 0u);
  ExpectAccountsMatchTables({kCaller, kCallerTwin, kCallee, kThird});
  // The broker shutting down.
  Handle(kThird, Register(1, "video.frames"));
  outbox_.Take();
  Handle(kCaller, Call(6, "video.frames"));
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 1u);
  router_.FailAllCalls(absl::UnavailableError("stopping"));
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 0u);
  ExpectAccountsMatchTables({kCaller, kCallerTwin, kCallee, kThird});
}

}  // namespace
}  // namespace switchboard::core
