// SPDX-License-Identifier: MIT
#include "daemon/core/handshake.h"

#include "daemon/core/frames.h"
#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

wire::Frame Hello(absl::string_view name, absl::string_view token = "") {
  v1::Header header;
  header.mutable_hello()->set_client_name(std::string(name));
  header.mutable_hello()->set_token(std::string(token));
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kHello;
  return wire::Frame::Build(prefix, header);
}

TEST(HandshakeTest, HelloIsAcceptedAndReturned) {
  absl::StatusOr<v1::Hello> hello = CheckHello(Hello("slideshow"), false, "");
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->client_name(), "slideshow");
}

TEST(HandshakeTest, FirstFrameOtherThanHelloIsInvalidArgument) {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kPing;
  prefix.request_id = 1;
  absl::Status status =
      CheckHello(wire::Frame::Build(prefix, "", ""), false, "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("PING"), absl::string_view::npos);
}

TEST(HandshakeTest, HelloWithAnotherBodyOrGarbageHeaderIsInvalidArgument) {
  v1::Header header;
  header.mutable_call()->set_service("x");
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kHello;
  EXPECT_EQ(
      CheckHello(wire::Frame::Build(prefix, header), false, "").status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      CheckHello(wire::Frame::Build(prefix, "\xff\xff\xff", ""), false, "")
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(HandshakeTest, TcpNeedsTheRightToken) {
  const std::string token(64, 'a');
  EXPECT_TRUE(CheckHello(Hello("c", token), true, token).ok());
  EXPECT_EQ(CheckHello(Hello("c"), true, token).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(
      CheckHello(Hello("c", std::string(64, 'b')), true, token).status().code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckHello(Hello("c", token + "a"), true, token).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Unix sockets ignore whatever token is sent.
  EXPECT_TRUE(CheckHello(Hello("c", "junk"), false, token).ok());
}

TEST(HandshakeTest, SecretsEqualComparesContentAndLength) {
  EXPECT_TRUE(SecretsEqual("abc", "abc"));
  EXPECT_TRUE(SecretsEqual("", ""));
  EXPECT_FALSE(SecretsEqual("abc", "abd"));
  EXPECT_FALSE(SecretsEqual("abc", "ab"));
  EXPECT_FALSE(SecretsEqual("", "a"));
}

TEST(FramesTest, WelcomeAnnouncesIdLimitsAndVersion) {
  wire::Limits limits;
  limits.max_payload_bytes = 1000;
  limits.max_header_bytes = 100;
  wire::Frame frame = BuildWelcome(SessionId(42), limits, true);
  EXPECT_EQ(frame.kind(), wire::Kind::kWelcome);
  EXPECT_EQ(frame.request_id(), 0u);
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->welcome().connection_id(), 42u);
  EXPECT_EQ(header->welcome().max_payload_bytes(), 1000u);
  EXPECT_EQ(header->welcome().max_header_bytes(), 100u);
  EXPECT_EQ(header->welcome().max_fds_per_frame(), 0u);
  EXPECT_EQ(header->welcome().broker_version(), "0.1.0");
  ASSERT_EQ(header->welcome().features_size(), 1);
  EXPECT_EQ(header->welcome().features(0), "fds");
}

TEST(FramesTest, WelcomeWithoutFdsListsNoFeature) {
  wire::Limits limits;
  limits.max_fds_per_frame = 16;
  absl::StatusOr<v1::Header> header =
      BuildWelcome(SessionId(1), limits, false).ParseHeader();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->welcome().max_fds_per_frame(), 16u);
  EXPECT_EQ(header->welcome().features_size(), 0);
}

TEST(FramesTest, ErrorForWrongVersionListsSupportedVersions) {
  wire::Frame frame = BuildError(absl::UnimplementedError("version 2"));
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->error().code(), 12);
  ASSERT_EQ(header->error().supported_versions_size(), 1);
  EXPECT_EQ(header->error().supported_versions(0), 1u);
  EXPECT_EQ(frame.bytes()[wire::kOffsetVersion], 1);
}

TEST(FramesTest, ErrorNamesTheExceededLimit) {
  wire::Frame frame = BuildError(absl::ResourceExhaustedError("too big"),
                                 "max_payload_bytes", 1024);
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->error().code(), 8);
  EXPECT_EQ(header->error().limit_name(), "max_payload_bytes");
  EXPECT_EQ(header->error().limit_value(), 1024u);
}

TEST(FramesTest, OkReplyHasAnEmptyHeader) {
  wire::Frame frame = BuildReply(RequestId(5), absl::OkStatus());
  EXPECT_EQ(frame.kind(), wire::Kind::kReply);
  EXPECT_EQ(frame.request_id(), 5u);
  EXPECT_TRUE(frame.header_bytes().empty());
  EXPECT_EQ(frame.prefix().sender, 0u);
}

}  // namespace
}  // namespace switchboard::core
