// SPDX-License-Identifier: MIT
//
// Service activation in CallRouter (core::Activations): calls to a name
// nobody owns that an activation file describes are held, the program is
// started once, and the calls go to the name's owner when it is claimed, or
// end with the reason when the activation fails. A fake start function and
// a fake clock; no processes.
#include <string>
#include <utility>
#include <vector>

#include "daemon/core/call_router.h"
#include "daemon/core/router.h"
#include "daemon/core/router_test_fixture.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

class CallRouterActivationTest : public RouterTest {
 protected:
  CallRouterActivationTest() : RouterTest(ActivationConfig()) {
    router_.set_activation_start(
        [this](const ActivatableService& service, uint64_t attempt) {
          starts_.push_back({service.name, attempt});
          return start_result_;
        });
    ActivatableService video;
    video.name = "video.frames";
    video.command = {"/usr/bin/video-server", "--quiet"};
    video.file = "/share/switchboard/services/video.frames.activation";
    router_.SetActivatableServices({video});
  }

  // The fixture's config (--max-queued-bytes 1000) with a small
  // --max-activation-queue.
  static RouterConfig ActivationConfig() {
    RouterConfig config = Config();
    config.activation.max_held_calls = 4;
    return config;
  }

  struct Start {
    std::string name;
    uint64_t attempt;
  };
  std::vector<Start> starts_;
  absl::Status start_result_;
};

TEST_F(CallRouterActivationTest, CallsAreHeldAndTheProgramStartsOnce) {
  for (uint64_t id = 1; id <= 4; ++id) {
    Handle(kCaller, Call(id, "video.frames"));
  }
  EXPECT_TRUE(outbox_.Take().empty());
  ASSERT_EQ(starts_.size(), 1u);
  EXPECT_EQ(starts_[0].name, "video.frames");
  EXPECT_TRUE(router_.activations().Activating("video.frames"));
  EXPECT_EQ(router_.activations().HeldFor("video.frames"), 4u);
  EXPECT_EQ(router_.stats().calls_held, 4u);
  EXPECT_EQ(router_.stats().activations, 1u);
}

TEST_F(CallRouterActivationTest,
       ClaimingTheNameForwardsHeldCallsInArrivalOrder) {
  Handle(kCaller, Call(7, "video.frames", "first"));
  Handle(kThird, Call(3, "video.frames", "second"));
  Handle(kCaller, Call(8, "video.frames", "third"));
  Handle(kCallee, Register(1, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 4u);  // the registration reply, then the calls
  EXPECT_EQ(sent[0].to, kCallee.id);
  EXPECT_EQ(sent[0].frame.kind(), wire::Kind::kReply);
  const std::vector<std::string> payloads = {"first", "second", "third"};
  for (size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_EQ(sent[i + 1].to, kCallee.id);
    EXPECT_EQ(sent[i + 1].frame.kind(), wire::Kind::kCall);
    EXPECT_EQ(sent[i + 1].frame.payload(), payloads[i]);
  }
  EXPECT_EQ(sent[2].frame.prefix().sender, kThird.id.value());
  EXPECT_EQ(sent[2].frame.prefix().sender_pid, kThird.pid);
  EXPECT_FALSE(router_.activations().Activating("video.frames"));

  // The reply reaches the caller under its own id, as for any call.
  Handle(kCallee, Reply(sent[1].frame.request_id(), "answer"));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[0].frame.request_id(), 7u);
  EXPECT_EQ(sent[0].frame.payload(), "answer");
}

TEST_F(CallRouterActivationTest, ACallToAnOwnedActivatableNameIsForwarded) {
  ServeVideo();
  ForwardCall(7);
  EXPECT_TRUE(starts_.empty());
}

TEST_F(CallRouterActivationTest,
       FailureEndsHeldCallsAndTheNextCallStartsAgain) {
  Handle(kCaller, Call(7, "video.frames"));
  Handle(kThird, Call(3, "video.frames"));
  ASSERT_EQ(starts_.size(), 1u);
  router_.OnActivationFailed(
      "video.frames", starts_[0].attempt,
      "/usr/bin/video-server exited with status 1 before claiming the name");
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_EQ(sent[1].to, kThird.id);
  for (const FakeOutbox::Sent& answer : sent) {
    const absl::Status status = ReplyStatus(answer.frame);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(status.message(),
              "activation of video.frames failed: /usr/bin/video-server "
              "exited with status 1 before claiming the name");
  }
  EXPECT_EQ(router_.stats().activations_failed, 1u);

  Handle(kCaller, Call(8, "video.frames"));
  ASSERT_EQ(starts_.size(), 2u);
  EXPECT_NE(starts_[1].attempt, starts_[0].attempt);
  EXPECT_TRUE(outbox_.Take().empty());
}

TEST_F(CallRouterActivationTest, AFailureOfAnEarlierAttemptIsIgnored) {
  Handle(kCaller, Call(7, "video.frames"));
  Handle(kCallee, Register(1, "video.frames"));
  outbox_.Take();
  // The program exits after it claimed the name: nothing is held.
  router_.OnActivationFailed("video.frames", starts_[0].attempt, "exited");
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.stats().activations_failed, 0u);
}

TEST_F(CallRouterActivationTest, AProgramThatCannotStartFailsTheCallAtOnce) {
  start_result_ = absl::NotFoundError("/usr/bin/video-server: no such file");
  Handle(kCaller, Call(7, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  const absl::Status status = ReplyStatus(sent[0].frame);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(),
            "activation of video.frames failed: /usr/bin/video-server: no "
            "such file");
  EXPECT_FALSE(router_.activations().Activating("video.frames"));
}

TEST_F(CallRouterActivationTest, AHeldCallKeepsItsOwnDeadline) {
  Handle(kCaller, Call(7, "video.frames", "short", /*timeout_us=*/1'000'000));
  Handle(kThird, Call(3, "video.frames", "long", /*timeout_us=*/10'000'000));
  EXPECT_EQ(router_.NextDeadline(), kT0 + absl::Seconds(1));
  router_.ExpireCalls(kT0 + absl::Seconds(1));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  const absl::Status status = ReplyStatus(sent[0].frame);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(status.message(),
            "service 'video.frames' was being started and did not claim its "
            "name before the call's deadline (/usr/bin/video-server --quiet)");
  // The other call still waits, and gets the owner.
  Handle(kCallee, Register(1, "video.frames"), kT0 + absl::Seconds(2));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].frame.payload(), "long");
}

TEST_F(CallRouterActivationTest, AnActivationThatTakesTooLongFails) {
  Handle(kCaller, Call(7, "video.frames", "x", /*timeout_us=*/60'000'000));
  const absl::Duration timeout = RouterConfig().activation.timeout;
  EXPECT_EQ(router_.NextDeadline(), kT0 + timeout);
  router_.ExpireCalls(kT0 + timeout);
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  const absl::Status status = ReplyStatus(sent[0].frame);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(),
            absl::StrCat("activation of video.frames failed: "
                         "/usr/bin/video-server --quiet did not claim the "
                         "name within ",
                         absl::FormatDuration(timeout)));
  EXPECT_FALSE(router_.NextDeadline().has_value());
}

TEST_F(CallRouterActivationTest, HeldCallsBeyondTheLimitGetResourceExhausted) {
  const size_t limit = ActivationConfig().activation.max_held_calls;
  for (uint64_t id = 1; id <= limit; ++id) {
    Handle(kCaller, Call(id, "video.frames"));
  }
  EXPECT_TRUE(outbox_.Take().empty());
  Handle(kCaller, Call(limit + 1, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  const absl::Status status = ReplyStatus(sent[0].frame);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(),
            absl::StrCat("service 'video.frames' is being started and ", limit,
                         " calls already wait for it, the broker's limit per "
                         "name"));
}

TEST_F(CallRouterActivationTest, HeldBytesAreBoundedByTheQueueQuota) {
  // The fixture's --max-queued-bytes is 1000: one large call is always
  // held, a second one that would pass the quota is refused.
  Handle(kCaller, Call(1, "video.frames", std::string(800, 'a')));
  EXPECT_TRUE(outbox_.Take().empty());
  Handle(kCaller, Call(2, "video.frames", std::string(200, 'b')));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  const absl::Status status = ReplyStatus(sent[0].frame);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()),
              ::testing::HasSubstr("would pass the broker's limit of 1000"));
  // A small one still fits.
  Handle(kCaller, Call(3, "video.frames", "c"));
  EXPECT_TRUE(outbox_.Take().empty());
  EXPECT_EQ(router_.activations().HeldFor("video.frames"), 2u);
}

TEST_F(CallRouterActivationTest, AHeldCallCanBeCancelled) {
  Handle(kCaller, Call(7, "video.frames"));
  Handle(kCaller, FrameOf(wire::Kind::kCancel, 7, nullptr));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kCancelled);
  EXPECT_EQ(router_.activations().HeldFor("video.frames"), 0u);
  // The id is free again.
  Handle(kCaller, Call(7, "video.frames"));
  EXPECT_TRUE(outbox_.Take().empty());
}

TEST_F(CallRouterActivationTest, AHeldCallsIdCannotBeReused) {
  Handle(kCaller, Call(7, "video.frames"));
  Handle(kCaller, Call(7, "video.frames"));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kInvalidArgument);
}

TEST_F(CallRouterActivationTest, ACallerThatLeavesLosesItsHeldCalls) {
  Handle(kCaller, Call(7, "video.frames"));
  router_.ForgetSession(kCaller.id);
  outbox_.Take();
  Handle(kCallee, Register(1, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);  // only the registration reply
  EXPECT_EQ(sent[0].to, kCallee.id);
}

TEST_F(CallRouterActivationTest, ShutdownEndsHeldCallsUnavailable) {
  Handle(kCaller, Call(7, "video.frames"));
  router_.FailAllCalls(absl::UnavailableError("the broker is shutting down"));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kUnavailable);
  EXPECT_FALSE(router_.activations().Activating("video.frames"));
}

TEST_F(CallRouterActivationTest, ReplacingTheServicesKeepsActivationsUnderWay) {
  Handle(kCaller, Call(7, "video.frames"));
  router_.SetActivatableServices({});
  EXPECT_EQ(router_.activations().Find("video.frames"), nullptr);
  Handle(kCallee, Register(1, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCall);
  // With the file gone, a call to the free name is NOT_FOUND again.
  Handle(kCallee, Release(2, "video.frames"));
  outbox_.Take();
  Handle(kCaller, Call(8, "video.frames"));
  ExpectAnswer(kCaller.id, 8, absl::StatusCode::kNotFound);
}

TEST_F(CallRouterActivationTest, PublishingNeverActivates) {
  v1::Header header;
  header.mutable_publish()->set_topic("video.frames");
  Handle(kCaller, FrameOf(wire::Kind::kPublish, 0, &header, "x"));
  EXPECT_TRUE(starts_.empty());
}

TEST_F(CallRouterActivationTest, AStreamsCreditGrantedWhileHeldIsPassedOn) {
  v1::Header header;
  header.mutable_call()->set_service("video.frames");
  header.mutable_call()->set_method("Play");
  header.mutable_call()->mutable_stream()->set_initial_credit(2);
  Handle(kCaller, FrameOf(wire::Kind::kCall, 7, &header));
  v1::Header credit;
  credit.mutable_credit()->set_grant(5);
  Handle(kCaller, FrameOf(wire::Kind::kCredit, 7, &credit));
  EXPECT_TRUE(outbox_.Take().empty());
  Handle(kCallee, Register(1, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kCall);
  EXPECT_EQ(sent[2].frame.kind(), wire::Kind::kCredit);
  EXPECT_EQ(sent[2].frame.request_id(), sent[1].frame.request_id());
}

wire::Frame StartService(uint64_t id, absl::string_view name) {
  v1::StartServiceRequest request;
  request.set_name(std::string(name));
  return Call(id, "switchboard.Broker", request.SerializeAsString(), 0,
              "StartService");
}

TEST_F(CallRouterActivationTest, StartServiceAnswersOnceTheNameIsClaimed) {
  Handle(kCaller, StartService(7, "video.frames"));
  EXPECT_TRUE(outbox_.Take().empty());
  ASSERT_EQ(starts_.size(), 1u);
  Handle(kCallee, Register(1, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].to, kCaller.id);
  EXPECT_EQ(sent[1].frame.request_id(), 7u);
  EXPECT_TRUE(ReplyStatus(sent[1].frame).ok());
  v1::StartServiceResult result;
  ASSERT_TRUE(result.ParseFromString(std::string(sent[1].frame.payload())));
  EXPECT_EQ(result.owner(), kCallee.id.value());
  // Owned now: answered at once, nothing started.
  Handle(kCaller, StartService(8, "video.frames"));
  ExpectAnswer(kCaller.id, 8, absl::StatusCode::kOk);
  EXPECT_EQ(starts_.size(), 1u);
}

TEST_F(CallRouterActivationTest, StartServiceOfAnUnknownNameIsNotFound) {
  Handle(kCaller, StartService(7, "video.other"));
  ExpectAnswer(kCaller.id, 7, absl::StatusCode::kNotFound);
  EXPECT_TRUE(starts_.empty());
}

}  // namespace
}  // namespace switchboard::core
