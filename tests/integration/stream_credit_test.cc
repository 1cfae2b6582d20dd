// SPDX-License-Identifier: MIT
//
// Streams on the wire (docs/PROTOCOL.md 5.4), with a raw caller and a raw
// callee so the test sees every frame the broker forwards: exactly
// initial_credit MORE replies before a CREDIT, CREDIT forwarded with the
// broker's request id, an overrun ending the call with RESOURCE_EXHAUSTED,
// CANCEL from the caller, a MORE reply to a call that asked for no stream,
// and the deadline covering the whole stream.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/broker_process.h"
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
using ::switchboard::testing::CreditHeader;
using ::switchboard::testing::EncodeFrameWithFlags;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::ReadReply;
using ::switchboard::testing::RegisterNameHeader;
using ::switchboard::testing::ReplyHeader;
using ::switchboard::testing::ReplyStatus;
using ::switchboard::testing::Request;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr absl::string_view kService = "raw.streamer";
constexpr uint64_t kCallId = 5;

// A raw connection that completed its handshake, and its connection id.
struct Peer {
  RawConnection connection;
  uint64_t id = 0;
};

class StreamCreditTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    absl::StatusOr<std::string> token = broker_.ReadToken();
    ASSERT_THAT(token, IsOk());
    token_ = *token;
    absl::StatusOr<Peer> callee = Connect();
    ASSERT_THAT(callee, IsOk());
    callee_.emplace(*std::move(callee));
    ASSERT_THAT(Request(callee_->connection, wire::Kind::kRegisterName, 1,
                        RegisterNameHeader(kService), kTimeout),
                IsOkAndHolds(IsOk()));
    absl::StatusOr<Peer> caller = Connect();
    ASSERT_THAT(caller, IsOk());
    caller_.emplace(*std::move(caller));
  }

  absl::StatusOr<Peer> Connect() {
    absl::StatusOr<RawConnection> connection =
        RawConnection::Connect(broker_.address());
    if (!connection.ok()) return connection.status();
    absl::StatusOr<v1::Welcome> welcome = connection->Handshake(token_);
    if (!welcome.ok()) return welcome.status();
    return Peer{*std::move(connection), welcome->connection_id()};
  }

  RawConnection& caller() { return caller_->connection; }
  RawConnection& callee() { return callee_->connection; }

  // The caller opens a stream; returns the broker's request id the callee
  // sees, after checking the forwarded CALL.
  absl::StatusOr<uint64_t> OpenStream(uint32_t initial_credit,
                                      absl::Duration timeout = kTimeout) {
    if (absl::Status sent = caller().SendFrame(
            wire::Kind::kCall, kCallId,
            CallHeader(kService, "Play", timeout, initial_credit));
        !sent.ok()) {
      return sent;
    }
    absl::StatusOr<wire::Frame> call = callee().ReadFrame(kTimeout);
    if (!call.ok()) return call.status();
    EXPECT_EQ(call->kind(), wire::Kind::kCall);
    EXPECT_EQ(call->prefix().sender, caller_->id);
    absl::StatusOr<v1::Header> header = call->ParseHeader();
    EXPECT_THAT(header, IsOk());
    if (header.ok()) {
      EXPECT_EQ(header->call().stream().initial_credit(), initial_credit);
    }
    return call->request_id();
  }

  absl::Status SendMore(uint64_t broker_id, absl::string_view payload) {
    return callee().Send(EncodeFrameWithFlags(
        wire::Kind::kReply, wire::kFlagMore, broker_id, v1::Header(), payload));
  }

  // The caller's next frame must be a MORE reply to its call with
  // `payload`.
  void ExpectMore(absl::string_view payload) {
    absl::StatusOr<wire::Frame> reply = ReadReply(caller(), kCallId, kTimeout);
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->prefix().flags & wire::kFlagMore, wire::kFlagMore);
    EXPECT_EQ(reply->payload(), payload);
    EXPECT_EQ(reply->prefix().sender, callee_->id);
  }

  // The caller's next frame must be the final REPLY of its call.
  absl::StatusOr<absl::Status> ReadFinal() {
    absl::StatusOr<wire::Frame> reply = ReadReply(caller(), kCallId, kTimeout);
    if (!reply.ok()) return reply.status();
    EXPECT_EQ(reply->prefix().flags & wire::kFlagMore, 0);
    return ReplyStatus(*reply);
  }

  // The callee's next frame must be a CANCEL for `broker_id`.
  void ExpectCancel(uint64_t broker_id) {
    absl::StatusOr<wire::Frame> cancel = callee().ReadFrame(kTimeout);
    ASSERT_THAT(cancel, IsOk());
    EXPECT_EQ(cancel->kind(), wire::Kind::kCancel);
    EXPECT_EQ(cancel->request_id(), broker_id);
  }

  // A PING round trip on `connection` whose REPLY must be the very next
  // frame: nothing else was on its way.
  void ExpectNothingElse(RawConnection& connection, uint64_t ping_id) {
    ASSERT_THAT(connection.SendFrame(wire::Kind::kPing, ping_id, v1::Header()),
                IsOk());
    absl::StatusOr<wire::Frame> reply =
        ReadReply(connection, ping_id, kTimeout);
    EXPECT_THAT(reply, IsOk());
  }

  BrokerProcess broker_{GetParam()};
  std::string token_;
  std::optional<Peer> callee_;
  std::optional<Peer> caller_;
};

TEST_P(StreamCreditTest, BrokerForwardsExactlyTheCreditGranted) {
  absl::StatusOr<uint64_t> id = OpenStream(3);
  ASSERT_THAT(id, IsOk());
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(SendMore(*id, absl::StrCat("m", i)), IsOk());
  }
  for (int i = 0; i < 3; ++i) ExpectMore(absl::StrCat("m", i));

  // More credit reaches the callee with the broker's id and the caller as
  // sender.
  ASSERT_THAT(caller().SendFrame(wire::Kind::kCredit, kCallId, CreditHeader(2)),
              IsOk());
  absl::StatusOr<wire::Frame> credit = callee().ReadFrame(kTimeout);
  ASSERT_THAT(credit, IsOk());
  ASSERT_EQ(credit->kind(), wire::Kind::kCredit);
  EXPECT_EQ(credit->request_id(), *id);
  EXPECT_EQ(credit->prefix().sender, caller_->id);
  absl::StatusOr<v1::Header> header = credit->ParseHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_EQ(header->credit().grant(), 2u);

  ASSERT_THAT(SendMore(*id, "m3"), IsOk());
  ASSERT_THAT(SendMore(*id, "m4"), IsOk());
  // The final REPLY needs no credit.
  ASSERT_THAT(callee().SendFrame(wire::Kind::kReply, *id,
                                 ReplyHeader(absl::StatusCode::kOk)),
              IsOk());
  ExpectMore("m3");
  ExpectMore("m4");
  EXPECT_THAT(ReadFinal(), IsOkAndHolds(IsOk()));
  ExpectNothingElse(caller(), 90);
  ExpectNothingElse(callee(), 91);
}

TEST_P(StreamCreditTest, OverrunEndsTheCallWithResourceExhausted) {
  absl::StatusOr<uint64_t> id = OpenStream(2);
  ASSERT_THAT(id, IsOk());
  // One more than the caller allowed, sent at once.
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(SendMore(*id, absl::StrCat("m", i)), IsOk());
  }
  ExpectMore("m0");
  ExpectMore("m1");
  EXPECT_THAT(ReadFinal(),
              IsOkAndHolds(StatusIs(absl::StatusCode::kResourceExhausted)));
  ExpectCancel(*id);
  // What the callee sends afterwards is discarded.
  ASSERT_THAT(SendMore(*id, "late"), IsOk());
  ASSERT_THAT(callee().SendFrame(wire::Kind::kReply, *id,
                                 ReplyHeader(absl::StatusCode::kOk)),
              IsOk());
  ExpectNothingElse(callee(), 91);
  ExpectNothingElse(caller(), 90);
}

TEST_P(StreamCreditTest, CreditGrantsAddUp) {
  absl::StatusOr<uint64_t> id = OpenStream(1);
  ASSERT_THAT(id, IsOk());
  ASSERT_THAT(caller().SendFrame(wire::Kind::kCredit, kCallId, CreditHeader(2)),
              IsOk());
  ASSERT_THAT(caller().SendFrame(wire::Kind::kCredit, kCallId, CreditHeader(3)),
              IsOk());
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<wire::Frame> credit = callee().ReadFrame(kTimeout);
    ASSERT_THAT(credit, IsOk());
    ASSERT_EQ(credit->kind(), wire::Kind::kCredit);
  }
  // 1 + 2 + 3 = 6 MORE replies fit; the 7th is an overrun.
  for (int i = 0; i < 7; ++i) {
    ASSERT_THAT(SendMore(*id, absl::StrCat("m", i)), IsOk());
  }
  for (int i = 0; i < 6; ++i) ExpectMore(absl::StrCat("m", i));
  EXPECT_THAT(ReadFinal(),
              IsOkAndHolds(StatusIs(absl::StatusCode::kResourceExhausted)));
  ExpectCancel(*id);
}

TEST_P(StreamCreditTest, InitialCreditZeroIsInvalid) {
  v1::Header header = CallHeader(kService, "Play", kTimeout);
  header.mutable_call()->mutable_stream()->set_initial_credit(0);
  ASSERT_THAT(caller().SendFrame(wire::Kind::kCall, kCallId, header), IsOk());
  EXPECT_THAT(ReadFinal(),
              IsOkAndHolds(StatusIs(absl::StatusCode::kInvalidArgument)));
  ExpectNothingElse(callee(), 91);  // the callee never saw the call
}

TEST_P(StreamCreditTest, MoreReplyToAPlainCallEndsItWithInternal) {
  ASSERT_THAT(caller().SendFrame(wire::Kind::kCall, kCallId,
                                 CallHeader(kService, "Play", kTimeout)),
              IsOk());
  absl::StatusOr<wire::Frame> call = callee().ReadFrame(kTimeout);
  ASSERT_THAT(call, IsOk());
  ASSERT_EQ(call->kind(), wire::Kind::kCall);
  ASSERT_THAT(SendMore(call->request_id(), "not a stream"), IsOk());
  EXPECT_THAT(ReadFinal(), IsOkAndHolds(StatusIs(absl::StatusCode::kInternal)));
  ExpectCancel(call->request_id());
  ExpectNothingElse(caller(), 90);
}

TEST_P(StreamCreditTest, CallerCancelEndsTheStreamAndDiscardsLateReplies) {
  absl::StatusOr<uint64_t> id = OpenStream(4);
  ASSERT_THAT(id, IsOk());
  ASSERT_THAT(SendMore(*id, "m0"), IsOk());
  ExpectMore("m0");
  ASSERT_THAT(caller().SendFrame(wire::Kind::kCancel, kCallId, v1::Header()),
              IsOk());
  EXPECT_THAT(ReadFinal(),
              IsOkAndHolds(StatusIs(absl::StatusCode::kCancelled)));
  absl::StatusOr<wire::Frame> cancel = callee().ReadFrame(kTimeout);
  ASSERT_THAT(cancel, IsOk());
  EXPECT_EQ(cancel->kind(), wire::Kind::kCancel);
  EXPECT_EQ(cancel->request_id(), *id);
  EXPECT_EQ(cancel->prefix().sender, caller_->id);
  // Replies in flight from the callee never reach the caller.
  ASSERT_THAT(SendMore(*id, "m1"), IsOk());
  ASSERT_THAT(callee().SendFrame(wire::Kind::kReply, *id,
                                 ReplyHeader(absl::StatusCode::kOk)),
              IsOk());
  ExpectNothingElse(callee(), 91);
  ExpectNothingElse(caller(), 90);
}

TEST_P(StreamCreditTest, CreditForAnUnknownCallIsIgnored) {
  ASSERT_THAT(caller().SendFrame(wire::Kind::kCredit, 999, CreditHeader(5)),
              IsOk());
  ExpectNothingElse(caller(), 90);
  ExpectNothingElse(callee(), 91);
}

TEST_P(StreamCreditTest, DeadlineCoversTheWholeStream) {
  absl::StatusOr<uint64_t> id = OpenStream(8, absl::Milliseconds(300));
  ASSERT_THAT(id, IsOk());
  // The callee sends nothing; the deadline ends the stream.
  EXPECT_THAT(ReadFinal(),
              IsOkAndHolds(StatusIs(absl::StatusCode::kDeadlineExceeded)));
  ExpectCancel(*id);
}

TEST_P(StreamCreditTest, CalleeDisconnectEndsTheStreamWithUnavailable) {
  absl::StatusOr<uint64_t> id = OpenStream(4);
  ASSERT_THAT(id, IsOk());
  ASSERT_THAT(SendMore(*id, "m0"), IsOk());
  ExpectMore("m0");
  callee().Close();
  EXPECT_THAT(ReadFinal(),
              IsOkAndHolds(StatusIs(absl::StatusCode::kUnavailable)));
}

TEST_P(StreamCreditTest, CallerDisconnectCancelsTheCallee) {
  absl::StatusOr<uint64_t> id = OpenStream(4);
  ASSERT_THAT(id, IsOk());
  caller().Close();
  ExpectCancel(*id);
}

TEST_P(StreamCreditTest, BrokerServiceRefusesAStream) {
  ASSERT_THAT(caller().SendFrame(
                  wire::Kind::kCall, kCallId,
                  CallHeader("switchboard.Broker", "GetStatus", kTimeout, 4)),
              IsOk());
  EXPECT_THAT(ReadFinal(),
              IsOkAndHolds(StatusIs(absl::StatusCode::kInvalidArgument)));
}

INSTANTIATE_TEST_SUITE_P(AllTransports, StreamCreditTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
