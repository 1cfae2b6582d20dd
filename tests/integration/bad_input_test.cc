// SPDX-License-Identifier: MIT
//
// What a broken or hostile client can send on a raw socket, and what the
// broker must answer (docs/PROTOCOL.md sections 4 and 7): one ERROR naming
// the problem, then the end of that connection, and nothing else disturbed.
// Every test ends by checking that a separate, well-behaved client that was
// connected all along can still make a call.
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::EncodeFrame;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr absl::Duration kPromptly = absl::Seconds(5);

constexpr uint32_t kMaxPayloadBytes = 1 << 20;
constexpr uint32_t kMaxHeaderBytes = 4096;

int Code(absl::StatusCode code) { return static_cast<int>(code); }

v1::Header HelloHeader(absl::string_view token) {
  v1::Header header;
  header.mutable_hello()->set_client_name("bad-input-test");
  header.mutable_hello()->set_token(std::string(token));
  return header;
}

v1::Header CallHeader(absl::string_view service, absl::string_view method) {
  v1::Header header;
  header.mutable_call()->set_service(std::string(service));
  header.mutable_call()->set_method(std::string(method));
  header.mutable_call()->set_timeout_us(20'000'000);
  return header;
}

// Just the 40-byte prefix of a frame that claims the given lengths.
std::string PrefixOnly(wire::Kind kind, uint32_t header_length,
                       uint32_t payload_length) {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = 1;
  prefix.header_length = header_length;
  prefix.payload_length = payload_length;
  std::string bytes(wire::kPrefixBytes, '\0');
  wire::EncodePrefix(prefix, bytes.data());
  return bytes;
}

class BadInputTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    absl::StatusOr<std::string> token = broker_.ReadToken();
    ASSERT_THAT(token, IsOk());
    token_ = *token;
    service_ = ConnectOrDie(broker_, "service");
    Service echo("test.echo");
    echo.AddMethod(
        "Echo",
        [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
          return Payload::Copy(request.view());
        });
    ASSERT_THAT(service_->Serve(std::move(echo)), IsOk());
    caller_ = ConnectOrDie(broker_, "caller");
  }

  void TearDown() override {
    if (caller_ == nullptr) return;  // SetUp failed
    // Whatever the test did to its own connection, the broker still serves
    // the clients that behaved, and accepts new ones.
    EXPECT_THAT(caller_->Call("test.echo", "Echo", "still here", kTimeout),
                IsOkAndHolds("still here"));
    EXPECT_TRUE(service_->connected());
    absl::StatusOr<RawConnection> fresh = Connect();
    ASSERT_THAT(fresh, IsOk());
    EXPECT_THAT(fresh->Handshake(token_), IsOk());
  }

  absl::StatusOr<RawConnection> Connect() {
    return RawConnection::Connect(broker_.address());
  }

  // A raw connection that completed its handshake; its WELCOME is kept in
  // welcome_.
  absl::StatusOr<RawConnection> ConnectAndGreet() {
    absl::StatusOr<RawConnection> connection = Connect();
    if (!connection.ok()) return connection.status();
    absl::StatusOr<v1::Welcome> welcome = connection->Handshake(token_);
    if (!welcome.ok()) return welcome.status();
    welcome_ = *welcome;
    return connection;
  }

  // Sends `bytes` on a new connection (after a handshake if `greet`) and
  // returns the ERROR the broker answers before closing.
  absl::StatusOr<v1::Error> SendAndReadError(absl::string_view bytes,
                                             bool greet) {
    absl::StatusOr<RawConnection> connection =
        greet ? ConnectAndGreet() : Connect();
    if (!connection.ok()) return connection.status();
    if (absl::Status sent = connection->Send(bytes); !sent.ok()) return sent;
    return connection->ReadErrorAndClose(kTimeout);
  }

  BrokerProcess broker_{GetParam(),
                        {absl::StrCat("--max-payload-bytes=", kMaxPayloadBytes),
                         absl::StrCat("--max-header-bytes=", kMaxHeaderBytes)}};
  std::string token_;
  std::unique_ptr<Client> service_;
  std::unique_ptr<Client> caller_;
  v1::Welcome welcome_;
};

TEST_P(BadInputTest, GarbageInsteadOfAFrameGetsInvalidArgument) {
  absl::StatusOr<v1::Error> error = SendAndReadError(
      "GET / HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n", false);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(error->message().empty());
}

TEST_P(BadInputTest, GarbageAfterTheHandshakeGetsInvalidArgument) {
  absl::StatusOr<v1::Error> error =
      SendAndReadError(std::string(64, '\x5a'), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(BadInputTest, WelcomeAnnouncesTheConfiguredLimits) {
  ASSERT_THAT(ConnectAndGreet(), IsOk());
  EXPECT_EQ(welcome_.max_payload_bytes(), kMaxPayloadBytes);
  EXPECT_EQ(welcome_.max_header_bytes(), kMaxHeaderBytes);
  // The default on Unix sockets; descriptors cannot travel over TCP
  // (docs/PROTOCOL.md 2.4).
  EXPECT_EQ(welcome_.max_fds_per_frame(),
            GetParam() == Transport::kUnix ? 16u : 0u);
  EXPECT_NE(welcome_.connection_id(), 0u);
  EXPECT_FALSE(welcome_.broker_version().empty());
}

TEST_P(BadInputTest, OversizedPayloadIsRefusedBeforeItsBodyIsSent) {
  // Only the prefix goes out: the broker must answer from the lengths alone.
  absl::StatusOr<v1::Error> error = SendAndReadError(
      PrefixOnly(wire::Kind::kCall, 10, kMaxPayloadBytes + 1), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(error->limit_name(), "max_payload_bytes");
  EXPECT_EQ(error->limit_value(), kMaxPayloadBytes);
}

TEST_P(BadInputTest, HugePayloadLengthIsRefusedWithoutAllocating) {
  absl::StatusOr<v1::Error> error =
      SendAndReadError(PrefixOnly(wire::Kind::kCall, 10, 0xffffffffu), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(error->limit_name(), "max_payload_bytes");
}

TEST_P(BadInputTest, OversizedHeaderIsRefusedBeforeItIsSent) {
  absl::StatusOr<v1::Error> error = SendAndReadError(
      PrefixOnly(wire::Kind::kCall, kMaxHeaderBytes + 1, 0), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(error->limit_name(), "max_header_bytes");
  EXPECT_EQ(error->limit_value(), kMaxHeaderBytes);
}

TEST_P(BadInputTest, OversizedFirstFrameIsRefusedBeforeTheHandshake) {
  absl::StatusOr<v1::Error> error = SendAndReadError(
      PrefixOnly(wire::Kind::kHello, 10, kMaxPayloadBytes + 1), false);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(error->limit_name(), "max_payload_bytes");
}

TEST_P(BadInputTest, FileDescriptorCountAboveTheLimitIsRefused) {
  absl::StatusOr<RawConnection> connection = ConnectAndGreet();
  ASSERT_THAT(connection, IsOk());
  // The count alone is over the limit; the broker answers from the prefix.
  std::string bytes =
      EncodeFrame(wire::Kind::kCall, 1, CallHeader("test.echo", "Echo"), "x");
  bytes[wire::kOffsetFdCount] =
      static_cast<char>(welcome_.max_fds_per_frame() + 1);
  ASSERT_THAT(connection->Send(bytes), IsOk());
  absl::StatusOr<v1::Error> error = connection->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(error->limit_name(), "max_fds_per_frame");
  EXPECT_EQ(error->limit_value(), welcome_.max_fds_per_frame());
}

TEST_P(BadInputTest, TruncatedFrameFollowedByCloseLeavesTheBrokerWorking) {
  absl::StatusOr<RawConnection> connection_or = ConnectAndGreet();
  ASSERT_THAT(connection_or, IsOk());
  RawConnection& connection = *connection_or;
  const std::string call =
      EncodeFrame(wire::Kind::kCall, 1, CallHeader("test.echo", "Echo"),
                  std::string(100, 'p'));
  ASSERT_THAT(connection.Send(absl::string_view(call).substr(0, 60)), IsOk());
  connection.Close();
  // TearDown checks the broker and the other clients.
}

TEST_P(BadInputTest, TruncatedFrameFollowedByEndOfStreamIsClosed) {
  absl::StatusOr<RawConnection> connection_or = ConnectAndGreet();
  ASSERT_THAT(connection_or, IsOk());
  RawConnection& connection = *connection_or;
  const std::string call =
      EncodeFrame(wire::Kind::kCall, 1, CallHeader("test.echo", "Echo"),
                  std::string(100, 'p'));
  ASSERT_THAT(connection.Send(absl::string_view(call).substr(0, 60)), IsOk());
  connection.ShutdownWrite();
  // The half frame is never answered; the broker closes its side. (An ERROR
  // first is allowed.)
  absl::StatusOr<std::vector<wire::Frame>> frames =
      connection.ReadUntilClosed(kTimeout);
  ASSERT_THAT(frames, IsOk());
  for (const wire::Frame& frame : *frames) {
    EXPECT_EQ(frame.kind(), wire::Kind::kError);
  }
}

TEST_P(BadInputTest, WrongProtocolVersionGetsUnimplementedListingVersion1) {
  std::string hello = EncodeFrame(wire::Kind::kHello, 0, HelloHeader(token_));
  hello[wire::kOffsetVersion] = 2;
  absl::StatusOr<RawConnection> connection = Connect();
  ASSERT_THAT(connection, IsOk());
  ASSERT_THAT(connection->Send(hello), IsOk());
  // The ERROR itself is a version-1 frame (else the decoder would refuse it).
  absl::StatusOr<v1::Error> error = connection->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(error->supported_versions(), ElementsAre(1u));
}

TEST_P(BadInputTest, FirstFrameThatIsNotHelloGetsInvalidArgument) {
  absl::StatusOr<v1::Error> error =
      SendAndReadError(EncodeFrame(wire::Kind::kPing, 1, v1::Header()), false);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));

  error = SendAndReadError(
      EncodeFrame(wire::Kind::kCall, 1, CallHeader("test.echo", "Echo"), "x"),
      false);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(BadInputTest, HelloWhoseHeaderDoesNotParseGetsInvalidArgument) {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kHello;
  absl::StatusOr<v1::Error> error = SendAndReadError(
      wire::Frame::Build(prefix, "\xff\xff\xff\xff\xff", "").bytes(), false);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(BadInputTest, CallWhoseHeaderDoesNotParseGetsInvalidArgument) {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kCall;
  prefix.request_id = 1;
  // Field 3 (call) announced as 100 bytes long, then 2 bytes.
  absl::StatusOr<v1::Error> error = SendAndReadError(
      wire::Frame::Build(prefix, "\x1a\x64\x0a\x01", "payload").bytes(), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(BadInputTest, CallNamingAServiceInBadUtf8GetsInvalidArgumentQuietly) {
  // A proto3 string must be UTF-8, so this header does not parse. The broker
  // answers like any malformed header, and protobuf's own complaint stays
  // out of the broker's log unless it runs at debug level.
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kCall;
  prefix.request_id = 1;
  // Header.call (field 3, 4 bytes) holding Call.service (field 1) = "\xff\xfe".
  absl::StatusOr<v1::Error> error = SendAndReadError(
      wire::Frame::Build(
          prefix, absl::string_view("\x1a\x04\x0a\x02\xff\xfe", 6), "payload")
          .bytes(),
      true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(broker_.ReadStderr(), Not(HasSubstr("libprotobuf")));
}

TEST_P(BadInputTest, HeaderBodyThatDoesNotMatchTheKindGetsInvalidArgument) {
  v1::Header wrong_body;
  wrong_body.mutable_release_name()->set_name("test.echo");
  absl::StatusOr<v1::Error> error = SendAndReadError(
      EncodeFrame(wire::Kind::kCall, 1, wrong_body, "x"), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(BadInputTest, SecondHelloGetsInvalidArgument) {
  absl::StatusOr<v1::Error> error = SendAndReadError(
      EncodeFrame(wire::Kind::kHello, 0, HelloHeader(token_)), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(BadInputTest, KindsOnlyTheBrokerSendsGetInvalidArgument) {
  v1::Header welcome;
  welcome.mutable_welcome()->set_connection_id(1);
  absl::StatusOr<v1::Error> error =
      SendAndReadError(EncodeFrame(wire::Kind::kWelcome, 0, welcome), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));

  v1::Header event;
  event.mutable_event()->mutable_shutting_down()->set_reason("fake");
  error = SendAndReadError(EncodeFrame(wire::Kind::kEvent, 0, event), true);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
}

TEST_P(BadInputTest, UnknownKindFlagsOrReservedByteGetInvalidArgument) {
  const std::string ping = EncodeFrame(wire::Kind::kPing, 1, v1::Header());
  std::string unknown_kind = ping;
  unknown_kind[wire::kOffsetKind] = 99;
  std::string flags = ping;
  flags[wire::kOffsetFlags + 1] = static_cast<char>(0x80);  // undefined bit
  std::string reserved = ping;
  reserved[wire::kOffsetReserved] = 1;
  for (const std::string& bytes : {unknown_kind, flags, reserved}) {
    absl::StatusOr<v1::Error> error = SendAndReadError(bytes, true);
    ASSERT_THAT(error, IsOk());
    EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
  }
}

TEST_P(BadInputTest, CallWithRequestIdZeroIsAnsweredInvalidArgument) {
  absl::StatusOr<RawConnection> connection_or = ConnectAndGreet();
  ASSERT_THAT(connection_or, IsOk());
  RawConnection& connection = *connection_or;
  ASSERT_THAT(connection.SendFrame(wire::Kind::kCall, 0,
                                   CallHeader("test.echo", "Echo"), "x"),
              IsOk());
  absl::StatusOr<wire::Frame> reply = connection.ReadFrame(kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->kind(), wire::Kind::kReply);
  absl::StatusOr<v1::Header> header = reply->ParseHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_EQ(header->reply().code(), Code(absl::StatusCode::kInvalidArgument));
  // Not a reason to close: the connection still works.
  ASSERT_THAT(connection.SendFrame(wire::Kind::kCall, 2,
                                   CallHeader("test.echo", "Echo"), "y"),
              IsOk());
  absl::StatusOr<wire::Frame> echoed = connection.ReadFrame(kTimeout);
  ASSERT_THAT(echoed, IsOk());
  EXPECT_EQ(echoed->request_id(), 2u);
  EXPECT_EQ(echoed->payload(), "y");
}

TEST_P(BadInputTest, CallReusingAPendingRequestIdIsAnsweredInvalidArgument) {
  // A raw callee that never answers keeps the first call pending.
  absl::StatusOr<RawConnection> callee_or = ConnectAndGreet();
  ASSERT_THAT(callee_or, IsOk());
  RawConnection& callee = *callee_or;
  v1::Header claim;
  claim.mutable_register_name()->set_name("test.silent");
  ASSERT_THAT(callee.SendFrame(wire::Kind::kRegisterName, 1, claim), IsOk());
  ASSERT_THAT(callee.ReadFrame(kTimeout), IsOk());

  absl::StatusOr<RawConnection> caller_or = ConnectAndGreet();
  ASSERT_THAT(caller_or, IsOk());
  RawConnection& caller = *caller_or;
  ASSERT_THAT(caller.SendFrame(wire::Kind::kCall, 7,
                               CallHeader("test.silent", "Wait"), "first"),
              IsOk());
  absl::StatusOr<wire::Frame> forwarded = callee.ReadFrame(kTimeout);
  ASSERT_THAT(forwarded, IsOk());
  EXPECT_EQ(forwarded->payload(), "first");
  ASSERT_THAT(caller.SendFrame(wire::Kind::kCall, 7,
                               CallHeader("test.silent", "Wait"), "second"),
              IsOk());
  absl::StatusOr<wire::Frame> refused = caller.ReadFrame(kTimeout);
  ASSERT_THAT(refused, IsOk());
  EXPECT_EQ(refused->kind(), wire::Kind::kReply);
  EXPECT_EQ(refused->request_id(), 7u);
  absl::StatusOr<v1::Header> header = refused->ParseHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_EQ(header->reply().code(), Code(absl::StatusCode::kInvalidArgument));

  // The first call is still pending and still gets the callee's answer.
  ASSERT_THAT(callee.SendFrame(wire::Kind::kReply, forwarded->request_id(),
                               v1::Header(), "answer"),
              IsOk());
  absl::StatusOr<wire::Frame> answer = caller.ReadFrame(kTimeout);
  ASSERT_THAT(answer, IsOk());
  EXPECT_EQ(answer->request_id(), 7u);
  EXPECT_EQ(answer->payload(), "answer");
}

TEST_P(BadInputTest, ManyMisbehavingConnectionsAtOnceHurtNobodyElse) {
  std::vector<RawConnection> connections;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<RawConnection> connection = Connect();
    ASSERT_THAT(connection, IsOk());
    connections.push_back(*std::move(connection));
  }
  for (size_t i = 0; i < connections.size(); ++i) {
    std::string garbage(40 + i, static_cast<char>('a' + i));
    ASSERT_THAT(connections[i].Send(garbage), IsOk());
  }
  for (RawConnection& connection : connections) {
    absl::StatusOr<v1::Error> error = connection.ReadErrorAndClose(kTimeout);
    ASSERT_THAT(error, IsOk());
    EXPECT_EQ(error->code(), Code(absl::StatusCode::kInvalidArgument));
  }
}

INSTANTIATE_TEST_SUITE_P(AllTransports, BadInputTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

// A broker with a short handshake timeout.
class HandshakeTimeoutTest : public ::testing::TestWithParam<Transport> {
 protected:
  static constexpr absl::Duration kHandshakeTimeout = absl::Milliseconds(500);

  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  BrokerProcess broker_{
      GetParam(),
      {absl::StrCat("--handshake-timeout=",
                    absl::ToInt64Milliseconds(kHandshakeTimeout), "ms")}};
};

TEST_P(HandshakeTimeoutTest, SilentConnectionGetsDeadlineExceededAndIsClosed) {
  // Connected before, and idle through the timeout: must not be affected.
  std::unique_ptr<Client> client = ConnectOrDie(broker_, "idle");
  // Before connecting: the broker's clock starts at accept(), later.
  const absl::Time start = absl::Now();
  absl::StatusOr<RawConnection> silent =
      RawConnection::Connect(broker_.address());
  ASSERT_THAT(silent, IsOk());
  absl::StatusOr<v1::Error> error = silent->ReadErrorAndClose(kTimeout);
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kDeadlineExceeded));
  EXPECT_GE(elapsed, kHandshakeTimeout - absl::Milliseconds(50));
  EXPECT_LT(elapsed, kHandshakeTimeout + kPromptly);
  EXPECT_TRUE(client->connected());
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

TEST_P(HandshakeTimeoutTest, HalfSentHelloIsClosedAfterTheTimeout) {
  absl::StatusOr<std::string> token = broker_.ReadToken();
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<RawConnection> slow =
      RawConnection::Connect(broker_.address());
  ASSERT_THAT(slow, IsOk());
  const std::string hello =
      EncodeFrame(wire::Kind::kHello, 0, HelloHeader(*token));
  ASSERT_THAT(slow->Send(absl::string_view(hello).substr(0, 20)), IsOk());
  absl::StatusOr<v1::Error> error = slow->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kDeadlineExceeded));
  std::unique_ptr<Client> client = ConnectOrDie(broker_, "after");
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

INSTANTIATE_TEST_SUITE_P(AllTransports, HandshakeTimeoutTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

// A broker that closes a connection whose partial frame makes no progress
// for a short --frame-progress-timeout.
class FrameProgressTest : public ::testing::TestWithParam<Transport> {
 protected:
  static constexpr absl::Duration kProgressTimeout = absl::Milliseconds(300);

  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  BrokerProcess broker_{
      GetParam(),
      {absl::StrCat("--frame-progress-timeout=",
                    absl::ToInt64Milliseconds(kProgressTimeout), "ms")}};
};

// A payload the default --max-payload-bytes (64 MiB) allows.
constexpr uint32_t kDeclaredPayloadBytes = 63 << 20;

TEST_P(FrameProgressTest, StalledFrameGetsDeadlineExceededAndIsClosed) {
  std::unique_ptr<Client> client = ConnectOrDie(broker_, "bystander");
  absl::StatusOr<std::string> token = broker_.ReadToken();
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<RawConnection> slow =
      RawConnection::Connect(broker_.address());
  ASSERT_THAT(slow, IsOk());
  ASSERT_THAT(slow->Handshake(*token), IsOk());
  ASSERT_THAT(
      slow->Send(PrefixOnly(wire::Kind::kPing, 0, kDeclaredPayloadBytes) +
                 "a few bytes"),
      IsOk());
  absl::StatusOr<v1::Error> error = slow->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(error->message(), HasSubstr("--frame-progress-timeout"));
  EXPECT_THAT(error->message(), HasSubstr("no progress on a frame"));
  EXPECT_TRUE(client->connected());
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

TEST_P(FrameProgressTest, IdleConnectionBetweenFramesStaysOpen) {
  std::unique_ptr<Client> client = ConnectOrDie(broker_, "idle");
  // Well past the timeout with no frame partly sent: nothing happens.
  const absl::Time until = absl::Now() + 3 * kProgressTimeout;
  EXPECT_FALSE(
      WaitFor([&] { return !client->connected(); }, until - absl::Now()));
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

INSTANTIATE_TEST_SUITE_P(AllTransports, FrameProgressTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

// Frames being read count against the broker's memory ceiling: a frame
// whose buffer grows past --max-memory closes its connection with
// RESOURCE_EXHAUSTED naming the flag, while a smaller one still arrives.
TEST(FrameCeilingTest, AFrameThatWouldPassTheCeilingClosesItsConnection) {
  constexpr uint64_t kCeiling = uint64_t{32} << 20;
  BrokerProcess broker(Transport::kUnix,
                       {absl::StrCat("--max-memory=", kCeiling)});
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> bystander = ConnectOrDie(broker, "bystander");

  // Below the ceiling: answered (nobody serves the name).
  absl::StatusOr<RawConnection> fits = RawConnection::Connect(broker.address());
  ASSERT_THAT(fits, IsOk());
  ASSERT_THAT(fits->Handshake(""), IsOk());
  ASSERT_THAT(fits->Send(EncodeFrame(wire::Kind::kCall, 1,
                                     CallHeader("no.such", "Method"),
                                     std::string(kCeiling / 2, 'f'))),
              IsOk());
  absl::StatusOr<wire::Frame> reply = fits->ReadFrame(kTimeout);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->prefix().kind, wire::Kind::kReply);

  // Past it: the sender's connection is closed, the broker serves on.
  absl::StatusOr<RawConnection> big = RawConnection::Connect(broker.address());
  ASSERT_THAT(big, IsOk());
  ASSERT_THAT(big->Handshake(""), IsOk());
  // The broker closes the connection partway, so the send may fail.
  (void)big->Send(EncodeFrame(wire::Kind::kCall, 1,
                              CallHeader("no.such", "Method"),
                              std::string(kCeiling + (kCeiling / 2), 'b')));
  absl::StatusOr<v1::Error> error = big->ReadErrorAndClose(kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(error->message(), HasSubstr("--max-memory"));
  EXPECT_THAT(bystander->Ping(kTimeout), IsOk());
}

// A field of /proc/PID/status in KiB (VmRSS, VmSize), or -1.
int64_t ProcStatusKib(pid_t pid, absl::string_view field) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, absl::StrCat(field, ":"))) continue;
    int64_t kib = -1;
    if (absl::SimpleAtoi(
            absl::StripAsciiWhitespace(absl::StripSuffix(
                absl::string_view(line).substr(field.size() + 1), "kB")),
            &kib)) {
      return kib;
    }
  }
  return -1;
}

// Connections that each declare a large frame and send a little of it
// (a slowloris) cost the broker what arrived, not what was declared.
TEST(TrickledFrameMemoryTest, DeclaredFramesCostWhatArrivedNotWhatTheySay) {
  constexpr int kConnections = 50;
  constexpr size_t kSent = 1000;
  constexpr int64_t kSlackKib = 64 * 1024;
  BrokerProcess broker(Transport::kUnix);
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> client = ConnectOrDie(broker, "watcher");
  std::vector<RawConnection> slow;
  for (int i = 0; i < kConnections; ++i) {
    absl::StatusOr<RawConnection> connection =
        RawConnection::Connect(broker.address());
    ASSERT_THAT(connection, IsOk());
    ASSERT_THAT(connection->Handshake(""), IsOk());
    slow.push_back(*std::move(connection));
  }
  const int64_t rss_before = ProcStatusKib(broker.pid(), "VmRSS");
  const int64_t size_before = ProcStatusKib(broker.pid(), "VmSize");
  ASSERT_GT(rss_before, 0);
  ASSERT_GT(size_before, 0);
  auto received = [&]() -> uint64_t {
    absl::StatusOr<v1::ConnectionList> list = client->Call<v1::ConnectionList>(
        "switchboard.Broker", "ListConnections", v1::ListConnectionsRequest(),
        kTimeout);
    if (!list.ok()) return 0;
    uint64_t bytes = 0;
    for (const v1::ConnectionInfo& info : list->connections()) {
      if (info.client_name() == "raw-test-connection") bytes += info.bytes_in();
    }
    return bytes;
  };
  const uint64_t greeted = received();
  for (RawConnection& connection : slow) {
    ASSERT_THAT(connection.Send(
                    PrefixOnly(wire::Kind::kPing, 0, kDeclaredPayloadBytes) +
                    std::string(kSent, 's')),
                IsOk());
  }
  // The broker has read every prefix and the bytes after it.
  ASSERT_TRUE(WaitFor(
      [&] {
        return received() >=
               greeted + kConnections * (wire::kPrefixBytes + kSent);
      },
      kTimeout));
  const int64_t rss_after = ProcStatusKib(broker.pid(), "VmRSS");
  const int64_t size_after = ProcStatusKib(broker.pid(), "VmSize");
  // Reserving the declared sizes would be 50 x 63 MiB, about 3 GiB of
  // address space (untouched, so mostly not resident: both are checked).
  EXPECT_LT(rss_after, rss_before + kSlackKib);
  EXPECT_LT(size_after, size_before + 4 * kSlackKib)
      << "address space grew by " << (size_after - size_before) << " KiB";
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

// The TCP token check (docs/PROTOCOL.md 4.1).
class TcpTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    absl::StatusOr<std::string> token = broker_.ReadToken();
    ASSERT_THAT(token, IsOk());
    token_ = *token;
  }

  absl::StatusOr<v1::Error> HelloWithToken(absl::string_view token) {
    absl::StatusOr<RawConnection> connection =
        RawConnection::Connect(broker_.tcp_address());
    if (!connection.ok()) return connection.status();
    absl::Status sent =
        connection->SendFrame(wire::Kind::kHello, 0, HelloHeader(token));
    if (!sent.ok()) return sent;
    return connection->ReadErrorAndClose(kTimeout);
  }

  BrokerProcess broker_{Transport::kTcp};
  std::string token_;
};

TEST_F(TcpTokenTest, TokenFileHoldsSixtyFourHexCharacters) {
  EXPECT_THAT(token_, ::testing::MatchesRegex("[0-9a-f]{64}"));
}

TEST_F(TcpTokenTest, RightTokenIsWelcome) {
  absl::StatusOr<RawConnection> connection =
      RawConnection::Connect(broker_.tcp_address());
  ASSERT_THAT(connection, IsOk());
  EXPECT_THAT(connection->Handshake(token_), IsOk());
}

TEST_F(TcpTokenTest, MissingTokenGetsPermissionDenied) {
  absl::StatusOr<v1::Error> error = HelloWithToken("");
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->code(), Code(absl::StatusCode::kPermissionDenied));
}

TEST_F(TcpTokenTest, WrongTokensGetPermissionDenied) {
  std::string flipped = token_;
  flipped[63] = flipped[63] == '0' ? '1' : '0';
  for (const std::string& wrong : {flipped, token_.substr(0, 63), token_ + "0",
                                   token_ + "\n", std::string(64, '0')}) {
    absl::StatusOr<v1::Error> error = HelloWithToken(wrong);
    ASSERT_THAT(error, IsOk()) << "token \"" << wrong << "\"";
    EXPECT_EQ(error->code(), Code(absl::StatusCode::kPermissionDenied))
        << "token \"" << wrong << "\"";
  }
}

TEST_F(TcpTokenTest, ClientWithAWrongTokenFileGetsPermissionDenied) {
  const std::string wrong_file = broker_.dir() + "/wrong-token";
  {
    std::ofstream out(wrong_file, std::ios::trunc);
    out << std::string(64, 'a');
    ASSERT_TRUE(out.good());
  }
  ConnectOptions options = broker_.connect_options("wrong");
  options.token_file = wrong_file;
  EXPECT_THAT(Client::Connect(broker_.tcp_address(), options),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // The right file still works.
  EXPECT_THAT(Client::Connect(broker_.tcp_address(), broker_.connect_options()),
              IsOk());
}

TEST_F(TcpTokenTest, UnixSocketNeedsNoToken) {
  absl::StatusOr<RawConnection> connection =
      RawConnection::Connect(broker_.unix_address());
  ASSERT_THAT(connection, IsOk());
  EXPECT_THAT(connection->Handshake(""), IsOk());
}

}  // namespace
}  // namespace switchboard
