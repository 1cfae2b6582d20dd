// SPDX-License-Identifier: MIT
//
// CallRouter's streamed calls (docs/PROTOCOL.md 5.4): MORE replies pass while
// the caller's credit lasts, CREDIT adds to it and reaches the callee, and
// every way a stream can end leaves exactly one final REPLY.
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "daemon/core/call_router.h"
#include "daemon/core/router.h"
#include "daemon/core/router_test_fixture.h"
#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

wire::Frame StreamCall(uint64_t id, uint32_t initial_credit) {
  v1::Header header;
  header.mutable_call()->set_service("video.player");
  header.mutable_call()->set_method("PlayClip");
  header.mutable_call()->mutable_stream()->set_initial_credit(initial_credit);
  return FrameOf(wire::Kind::kCall, id, &header, "clip-7");
}

wire::Frame More(uint64_t id, absl::string_view payload = "frame") {
  wire::Frame frame = Reply(id, payload);
  frame.set_flags(wire::kFlagMore);
  return frame;
}

wire::Frame Credit(uint64_t id, uint32_t grant) {
  v1::Header header;
  header.mutable_credit()->set_grant(grant);
  return FrameOf(wire::Kind::kCredit, id, &header);
}

class CallRouterStreamsTest : public RouterTest {
 protected:
  // kCallee serves "video.player"; kCaller starts stream `id` with
  // `credit`. Returns the broker's id the callee sees.
  uint64_t StartStream(uint64_t id, uint32_t credit) {
    Handle(kCallee, Register(50, "video.player"));
    outbox_.Take();
    Handle(kCaller, StreamCall(id, credit));
    std::vector<FakeOutbox::Sent> sent = outbox_.Take();
    EXPECT_EQ(sent.size(), 1u);
    if (sent.empty()) return 0;
    EXPECT_EQ(sent[0].to, kCallee.id);
    EXPECT_TRUE(sent[0].frame.ParseHeader()->call().has_stream());
    return sent[0].frame.request_id();
  }

  // Sends `count` MORE replies from the callee and returns how many reached
  // the caller still flagged MORE.
  size_t SendMore(uint64_t broker_id, size_t count) {
    for (size_t i = 0; i < count; ++i) Handle(kCallee, More(broker_id));
    size_t forwarded = 0;
    for (const FakeOutbox::Sent& s : outbox_.sent) {
      if (s.to == kCaller.id && s.frame.kind() == wire::Kind::kReply &&
          (s.frame.prefix().flags & wire::kFlagMore) != 0) {
        ++forwarded;
      }
    }
    return forwarded;
  }
};

TEST_F(CallRouterStreamsTest, MoreRepliesPassWhileCreditLastsAndKeepTheirFlag) {
  const uint64_t broker_id = StartStream(9, 2);
  Handle(kCallee, More(broker_id, "frame 0"));
  Handle(kCallee, More(broker_id, "frame 1"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  for (const FakeOutbox::Sent& s : sent) {
    EXPECT_EQ(s.to, kCaller.id);
    EXPECT_EQ(s.frame.request_id(), 9u);
    EXPECT_EQ(s.frame.prefix().sender, kCallee.id.value());
    EXPECT_EQ(s.frame.prefix().flags, wire::kFlagMore);
    absl::StatusOr<wire::Prefix> reread = wire::DecodePrefix(s.frame.bytes());
    ASSERT_TRUE(reread.ok());
    EXPECT_EQ(reread->flags, wire::kFlagMore);
  }
  EXPECT_EQ(sent[1].frame.payload(), "frame 1");
  EXPECT_EQ(router_.calls().size(), 1u);  // still pending

  Handle(kCallee, Reply(broker_id, "done"));  // the final reply needs none
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame.prefix().flags, 0u);
  EXPECT_EQ(sent[0].frame.payload(), "done");
  EXPECT_EQ(router_.calls().size(), 0u);
  EXPECT_EQ(router_.stats().streams, 1u);
  EXPECT_EQ(router_.stats().stream_replies, 2u);
}

TEST_F(CallRouterStreamsTest, AReplyBeyondTheCreditEndsTheStream) {
  const uint64_t broker_id = StartStream(9, 3);
  EXPECT_EQ(SendMore(broker_id, 3), 3u);
  outbox_.Take();
  Handle(kCallee, More(broker_id));  // the fourth: no credit left
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[0].frame.request_id(), 9u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReplyStatus(sent[0].frame).message(),
            "the callee sent more replies than the caller's credit");
  EXPECT_EQ(sent[1].to, kCallee.id);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCancel);
  EXPECT_EQ(sent[1].frame.request_id(), broker_id);
  EXPECT_EQ(router_.calls().size(), 0u);
  // What the callee still sends is late.
  Handle(kCallee, More(broker_id));
  Handle(kCallee, Reply(broker_id));
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.stats().late_replies, 2u);
  EXPECT_EQ(router_.stats().streams_overrun, 1u);
}

TEST_F(CallRouterStreamsTest, CreditIsAddedAndForwardedToTheCallee) {
  const uint64_t broker_id = StartStream(9, 1);
  EXPECT_EQ(SendMore(broker_id, 1), 1u);
  outbox_.Take();
  Handle(kCaller, Credit(9, 2));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCallee.id);
  EXPECT_EQ(sent[0].frame.kind(), wire::Kind::kCredit);
  EXPECT_EQ(sent[0].frame.request_id(), broker_id);
  EXPECT_EQ(sent[0].frame.prefix().sender, kCaller.id.value());
  EXPECT_EQ(sent[0].frame.ParseHeader()->credit().grant(), 2u);
  // Exactly two more pass, the third ends the stream.
  EXPECT_EQ(SendMore(broker_id, 2), 2u);
  outbox_.Take();
  Handle(kCallee, More(broker_id));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(router_.stats().credits_forwarded, 1u);
}

TEST_F(CallRouterStreamsTest, CreditSaturatesInsteadOfWrapping) {
  const uint64_t broker_id = StartStream(9, 1);
  // 1 + (2^32 - 1) would wrap to 0 and end the stream at the next reply.
  Handle(kCaller, Credit(9, std::numeric_limits<uint32_t>::max()));
  outbox_.Take();
  EXPECT_EQ(SendMore(broker_id, 5), 5u);
  EXPECT_EQ(router_.calls().size(), 1u);
}

TEST_F(CallRouterStreamsTest, CreditsForNoStreamOrOfZeroAreIgnored) {
  ServeVideo();
  ForwardCall(7);
  Handle(kCaller, Credit(7, 5));   // not a stream
  Handle(kCaller, Credit(42, 5));  // not pending
  const uint64_t broker_id = StartStream(9, 1);
  Handle(kCaller, Credit(9, 0));  // grant 0
  Handle(kCallee, Credit(9, 3));  // not the caller's
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.stats().credits_ignored, 4u);
  EXPECT_EQ(SendMore(broker_id, 2), 1u);  // the credit is still 1
  EXPECT_TRUE(outbox_.closed.empty());
}

TEST_F(CallRouterStreamsTest, InitialCreditZeroIsRefused) {
  Handle(kCallee, Register(50, "video.player"));
  outbox_.Take();
  Handle(kCaller, StreamCall(9, 0));
  ExpectAnswer(kCaller.id, 9, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterStreamsTest, MoreOnAUnaryCallEndsItWithInternal) {
  ServeVideo();
  const wire::Frame forwarded = ForwardCall(7);
  Handle(kCallee, More(forwarded.request_id()));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(sent[1].to, kCallee.id);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCancel);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterStreamsTest, MoreOnAnyOtherKindClosesTheSession) {
  ServeVideo();
  wire::Frame call = Call(7, "video.frames");
  call.set_flags(wire::kFlagMore);
  Handle(kCaller, std::move(call));
  wire::Frame credit = Credit(9, 1);
  credit.set_flags(wire::kFlagMore);
  Handle(kThird, std::move(credit));
  ASSERT_EQ(outbox_.closed.size(), 2u);
  for (const FakeOutbox::Closed& closed : outbox_.closed) {
    EXPECT_EQ(closed.reason.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(closed.with_error);
  }
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterStreamsTest, CancelMidStreamDiscardsWhatIsStillInFlight) {
  const uint64_t broker_id = StartStream(9, 4);
  EXPECT_EQ(SendMore(broker_id, 1), 1u);
  outbox_.Take();
  Handle(kCaller, FrameOf(wire::Kind::kCancel, 9, nullptr));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCancel);
  EXPECT_EQ(sent[1].frame.request_id(), broker_id);
  Handle(kCallee, More(broker_id));
  EXPECT_TRUE(outbox_.Take().empty());
}

TEST_F(CallRouterStreamsTest, EitherEndLeavingEndsTheStream) {
  uint64_t broker_id = StartStream(9, 4);
  EXPECT_EQ(SendMore(broker_id, 1), 1u);
  outbox_.Take();
  router_.ForgetSession(kCallee.id, "gone");
  ExpectAnswer(kCaller.id, 9, absl::StatusCode::kUnavailable);

  broker_id = StartStream(10, 4);
  router_.ForgetSession(kCaller.id, "gone");
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCallee.id);
  EXPECT_EQ(sent[0].frame.kind(), wire::Kind::kCancel);
  EXPECT_EQ(sent[0].frame.request_id(), broker_id);
  EXPECT_EQ(router_.calls().size(), 0u);
}

TEST_F(CallRouterStreamsTest, TheDeadlineCoversTheWholeStream) {
  const uint64_t broker_id = StartStream(9, 4);
  EXPECT_EQ(SendMore(broker_id, 2), 2u);
  outbox_.Take();
  router_.ExpireCalls(kT0 + absl::Seconds(30));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCancel);
}

TEST_F(CallRouterStreamsTest, AMoreReplyOverTheCallersQuotaEndsTheStream) {
  const uint64_t broker_id = StartStream(9, 4);
  outbox_.queued[kCaller.id] = 990;
  Handle(kCallee, More(broker_id, std::string(100, 'x')));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCancel);

  // Descriptors for a caller that takes none end it the same way.
  outbox_.queued[kCaller.id] = 0;
  Handle(kCaller, StreamCall(10, 4));
  const uint64_t second = outbox_.Take()[0].frame.request_id();
  wire::Frame more = More(second);
  more.set_fds(EventFds(1));
  Handle(kCallee, std::move(more));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(ReplyStatus(sent[0].frame).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(router_.stats().streams_refused, 2u);
}

}  // namespace
}  // namespace switchboard::core
