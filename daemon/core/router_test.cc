// SPDX-License-Identifier: MIT
//
// The router's own work: dispatch by kind, PING, REGISTER_NAME,
// RELEASE_NAME, ERROR, and frames that close their session. Each part has
// its own tests: call_router*_test.cc, topic_router_test.cc,
// broker_service_test.cc, monitor_hub_test.cc.
#include "daemon/core/router.h"

#include <string>
#include <utility>
#include <vector>

#include "daemon/core/frames.h"
#include "daemon/core/router_test_fixture.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/schema.pb.h"
#include "wire/descriptor_files.h"

namespace switchboard::core {
namespace {

TEST_F(RouterTest, PingIsAnsweredOk) {
  Handle(kCaller, FrameOf(wire::Kind::kPing, 3, nullptr));
  ExpectAnswer(kCaller.id, 3, absl::StatusCode::kOk);
  Handle(kCaller, FrameOf(wire::Kind::kPing, 0, nullptr));
  ExpectAnswer(kCaller.id, 0, absl::StatusCode::kInvalidArgument);
}

TEST_F(RouterTest, RegisterNameRepliesWithTheStateAsPayload) {
  Handle(kCallee, Register(4, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame.request_id(), 4u);
  EXPECT_TRUE(ReplyStatus(sent[0].frame).ok());
  v1::RegisterNameResult result;
  ASSERT_TRUE(result.ParseFromString(std::string(sent[0].frame.payload())));
  EXPECT_EQ(result.state(), v1::RegisterNameResult::STATE_OWNER);

  Handle(kThird, Register(1, "video.frames", v1::NAME_FLAG_QUEUE));
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(result.ParseFromString(std::string(sent[0].frame.payload())));
  EXPECT_EQ(result.state(), v1::RegisterNameResult::STATE_QUEUED);
}

TEST_F(RouterTest, RegisteringATakenOrReservedNameIsAnsweredWithAnError) {
  ServeVideo();
  Handle(kThird, Register(1, "video.frames"));
  ExpectAnswer(kThird.id, 1, absl::StatusCode::kAlreadyExists);
  Handle(kThird, Register(2, "switchboard.admin"));
  ExpectAnswer(kThird.id, 2, absl::StatusCode::kInvalidArgument);
  Handle(kThird, Register(0, "other.name"));
  ExpectAnswer(kThird.id, 0, absl::StatusCode::kInvalidArgument);
}

TEST_F(RouterTest, ReplaceSendsNameLostWithTheNewOwner) {
  Handle(kCallee,
         Register(1, "video.frames", v1::NAME_FLAG_FAIL_IF_OWNED, true));
  outbox_.Take();
  Handle(kThird, Register(1, "video.frames", v1::NAME_FLAG_REPLACE));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, kThird.id);
  EXPECT_EQ(sent[1].to, kCallee.id);
  EXPECT_EQ(sent[1].frame.kind(), wire::Kind::kEvent);
  EXPECT_EQ(sent[1].frame.request_id(), 0u);
  absl::StatusOr<v1::Header> header = sent[1].frame.ParseHeader();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->event().name_lost().name(), "video.frames");
  EXPECT_EQ(header->event().name_lost().new_owner(), 3u);
}

TEST_F(RouterTest, ReleaseAndDisconnectPassTheNameOnWithNameAcquired) {
  ServeVideo();
  Handle(kThird, Register(1, "video.frames", v1::NAME_FLAG_QUEUE));
  Handle(kCaller, Register(1, "video.frames", v1::NAME_FLAG_QUEUE));
  outbox_.Take();
  Handle(kCallee, Release(2, "video.frames"));
  std::vector<FakeOutbox::Sent> sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].to, kCallee.id);
  EXPECT_TRUE(ReplyStatus(sent[0].frame).ok());
  EXPECT_EQ(sent[1].to, kThird.id);
  absl::StatusOr<v1::Header> header = sent[1].frame.ParseHeader();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->event().name_acquired().name(), "video.frames");

  router_.ForgetSession(kThird.id);
  sent = outbox_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, kCaller.id);
  EXPECT_TRUE(sent[0].frame.ParseHeader()->event().has_name_acquired());
}

TEST_F(RouterTest, ReleasingANameNotHeldIsNotFound) {
  Handle(kCaller, Release(1, "video.frames"));
  ExpectAnswer(kCaller.id, 1, absl::StatusCode::kNotFound);
}

TEST_F(RouterTest, MalformedHeadersCloseTheSessionWithAnError) {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kCall;
  prefix.request_id = 1;
  Handle(kCaller, wire::Frame::Build(prefix, "\xff\xff", ""));
  prefix.kind = wire::Kind::kRegisterName;
  v1::Header wrong_body;
  wrong_body.mutable_release_name()->set_name("x");
  Handle(kThird, wire::Frame::Build(prefix, wrong_body));
  ASSERT_EQ(outbox_.closed.size(), 2u);
  EXPECT_EQ(outbox_.closed[0].session, kCaller.id);
  EXPECT_EQ(outbox_.closed[0].reason.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(outbox_.closed[0].with_error);
  EXPECT_EQ(outbox_.closed[1].session, kThird.id);
  EXPECT_TRUE(outbox_.sent.empty());
  EXPECT_EQ(router_.stats().protocol_errors, 2u);
}

TEST_F(RouterTest, KindsAClientMayNotSendCloseTheSession) {
  Handle(kCaller, FrameOf(wire::Kind::kHello, 0, nullptr));
  Handle(kCallee, FrameOf(wire::Kind::kWelcome, 0, nullptr));
  Handle(kThird, FrameOf(wire::Kind::kEvent, 0, nullptr));
  ASSERT_EQ(outbox_.closed.size(), 3u);
  for (const FakeOutbox::Closed& closed : outbox_.closed) {
    EXPECT_EQ(closed.reason.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(closed.with_error);
  }
}

TEST_F(RouterTest, ClientErrorDisconnectsWithoutAnswering) {
  v1::Header header;
  header.mutable_error()->set_code(13);
  header.mutable_error()->set_message("client bug");
  Handle(kCaller, FrameOf(wire::Kind::kError, 0, &header));
  ASSERT_EQ(outbox_.closed.size(), 1u);
  EXPECT_FALSE(outbox_.closed[0].with_error);
  EXPECT_NE(outbox_.closed[0].reason.message().find("client bug"),
            absl::string_view::npos);
}

// Per-uid quotas (docs/ARCHITECTURE.md "Per-uid quotas").
class RouterQuotaTest : public RouterTest {
 protected:
  RouterQuotaTest() : RouterTest(QuotaConfig()) {}

  void ExpectOk(const Peer& from, wire::Frame frame) {
    const uint64_t id = frame.request_id();
    Handle(from, std::move(frame));
    ExpectAnswer(from.id, id, absl::StatusCode::kOk);
  }
};

TEST_F(RouterQuotaTest, NamesAreCountedOverAllOfAUidsConnections) {
  ExpectOk(kCaller, Register(1, "a.one"));
  ExpectOk(kCallerTwin, Register(1, "a.two"));
  Handle(kCallerTwin, Register(2, "a.three"));
  ExpectRefused(kCallerTwin.id, 2,
                "uid 1000 holds 2 names (owned or queued for), its limit "
                "(--max-names-per-uid)");
  // A claim the connection already holds costs nothing more: it gets the
  // answer it always got, not the quota's.
  Handle(kCaller, Register(3, "a.one"));
  ExpectAnswer(kCaller.id, 3, absl::StatusCode::kAlreadyExists);
  // Another uid is not touched.
  ExpectOk(kCallee, Register(1, "b.one"));
  ExpectOk(kCallee, Register(2, "b.two"));
  EXPECT_EQ(Held(1000, Quota::kNames), 2u);
  EXPECT_EQ(Held(1001, Quota::kNames), 2u);
}

TEST_F(RouterQuotaTest, QueuedClaimsCountAndReleasingOneMakesRoom) {
  ExpectOk(kCallee, Register(1, "b.one"));
  ExpectOk(kCaller, Register(1, "a.one"));
  ExpectOk(kCaller, Register(2, "b.one", v1::NAME_FLAG_QUEUE));
  Handle(kCaller, Register(3, "a.two"));
  ExpectRefused(kCaller.id, 3,
                "uid 1000 holds 2 names (owned or queued for), its limit "
                "(--max-names-per-uid)");
  // Leaving the line makes room.
  Handle(kCaller, Release(4, "b.one"));
  ExpectAnswer(kCaller.id, 4, absl::StatusCode::kOk);
  EXPECT_EQ(Held(1000, Quota::kNames), 1u);
  ExpectOk(kCaller, Register(5, "a.two"));
  // A connection that goes gives its names back.
  router_.ForgetSession(kCaller.id, "test");
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kNames), 0u);
  ExpectOk(kCallerTwin, Register(1, "a.three"));
}

TEST_F(RouterQuotaTest, AReplacedOwnerIsRefunded) {
  ExpectOk(kCallee, Register(1, "b.one", v1::NAME_FLAG_FAIL_IF_OWNED, true));
  Handle(kCaller, Register(1, "b.one", v1::NAME_FLAG_REPLACE));
  outbox_.Take();  // the reply and NameLost
  EXPECT_EQ(Held(1001, Quota::kNames), 0u);
  EXPECT_EQ(Held(1000, Quota::kNames), 1u);
}

// The accounts agree with the tables after every step, and after every
// session is forgotten no uid holds anything: each table gave back what it
// charged, whatever the path.
TEST_F(RouterQuotaTest, NothingIsLeftChargedWhenEverySessionIsForgotten) {
  const std::initializer_list<Peer> peers = {kCaller, kCallerTwin, kCallee,
                                             kThird};
  for (const Peer& peer : peers) {
    router_.OnSessionOpened(SessionInfo{peer, "test", "unix", "", kT0, {}},
                            kT0);
  }
  outbox_.Take();
  // A name with a schema, a queued claim, a plain name.
  v1::ServiceSchema schema;
  schema.add_methods()->set_name("GetFrame");
  const v1::Header claim = *Register(1, "video.frames").ParseHeader();
  ExpectOk(kCallee, FrameOf(wire::Kind::kRegisterName, 1, &claim,
                            schema.SerializeAsString()));
  ExpectOk(kThird, Register(1, "video.frames", v1::NAME_FLAG_QUEUE));
  ExpectOk(kCaller, Register(1, "a.one"));
  // Types kept for a connection.
  v1::RegisterTypesRequest types;
  wire::AppendWithImports(v1::MonitorEvent::descriptor()->file(),
                          *types.mutable_files());
  ExpectOk(kCallerTwin, Call(9, kBrokerService, types.SerializeAsString(), 0,
                             kRegisterTypesMethod));
  // Subscriptions and calls.
  v1::Header subscribe;
  subscribe.mutable_subscribe()->set_subscription_id(1);
  subscribe.mutable_subscribe()->set_pattern("a.>");
  ExpectOk(kCallerTwin, FrameOf(wire::Kind::kSubscribe, 2, &subscribe));
  ExpectOk(kThird, FrameOf(wire::Kind::kSubscribe, 2, &subscribe));
  Handle(kCaller, Call(5, "video.frames"));
  Handle(kCallerTwin, Call(5, "video.frames"));
  outbox_.Take();
  EXPECT_EQ(Held(1000, Quota::kPendingCalls), 2u);
  EXPECT_EQ(Held(1000, Quota::kNames), 1u);
  EXPECT_EQ(Held(1000, Quota::kSubscriptions), 1u);
  EXPECT_GT(Held(1000, Quota::kSchemaBytes), 0u);
  EXPECT_GT(Held(1001, Quota::kSchemaBytes), 0u);
  EXPECT_EQ(Held(1002, Quota::kNames), 1u);
  EXPECT_EQ(Held(1002, Quota::kSubscriptions), 1u);
  ExpectAccountsMatchTables(peers);

  // The callee goes first: its calls end, the queued claim is promoted.
  for (const Peer& peer : {kCallee, kCaller, kThird, kCallerTwin}) {
    router_.ForgetSession(peer.id, "test");
    outbox_.ForgetClosed();
    outbox_.Take();
    ExpectAccountsMatchTables(peers);
  }
  EXPECT_TRUE(router_.accounts().All().empty());
  EXPECT_EQ(router_.stats().uid_charges_left, 0u);
  for (uint32_t uid : {1000u, 1001u, 1002u}) {
    EXPECT_TRUE(router_.accounts().UsageOf(uid).empty()) << uid;
  }
}

}  // namespace
}  // namespace switchboard::core
