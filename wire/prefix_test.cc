// SPDX-License-Identifier: MIT
#include "wire/prefix.h"

#include <string>

#include "gtest/gtest.h"

namespace switchboard::wire {
namespace {

std::string Encode(const Prefix& prefix) {
  std::string bytes(kPrefixBytes, '\0');
  EncodePrefix(prefix, bytes.data());
  return bytes;
}

TEST(PrefixTest, RoundTripsEveryField) {
  Prefix in;
  in.kind = Kind::kReply;
  in.header_length = 12;
  in.payload_length = 33177600;
  in.request_id = 0x0102030405060708;
  in.sender = 42;
  in.sender_uid = 1000;
  in.sender_pid = 4321;
  absl::StatusOr<Prefix> out = DecodePrefix(Encode(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, Kind::kReply);
  EXPECT_EQ(out->header_length, 12u);
  EXPECT_EQ(out->payload_length, 33177600u);
  EXPECT_EQ(out->request_id, 0x0102030405060708u);
  EXPECT_EQ(out->sender, 42u);
  EXPECT_EQ(out->sender_uid, 1000u);
  EXPECT_EQ(out->sender_pid, 4321u);
}

TEST(PrefixTest, FieldsSitAtTheDocumentedLittleEndianOffsets) {
  Prefix in;
  in.kind = Kind::kCall;
  in.header_length = 0x11223344;
  in.request_id = 7;
  std::string bytes = Encode(in);
  EXPECT_EQ(bytes.substr(0, 4), std::string("SB\x01\x03", 4));
  EXPECT_EQ(static_cast<uint8_t>(bytes[8]), 0x44);
  EXPECT_EQ(static_cast<uint8_t>(bytes[11]), 0x11);
  EXPECT_EQ(bytes[16], 7);
}

TEST(PrefixTest, StampingOverwritesSenderAndRequestId) {
  Prefix in;
  in.sender = 999;
  std::string bytes = Encode(in);
  StampSender(bytes.data(), 5, 6, 7);
  StampRequestId(bytes.data(), 8);
  absl::StatusOr<Prefix> out = DecodePrefix(bytes);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->sender, 5u);
  EXPECT_EQ(out->sender_uid, 6u);
  EXPECT_EQ(out->sender_pid, 7u);
  EXPECT_EQ(out->request_id, 8u);
}

TEST(PrefixTest, RejectsBadMagicUnknownKindFlagsAndReservedByte) {
  std::string good = Encode(Prefix{});
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_EQ(DecodePrefix(bad_magic).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string bad_kind = good;
  bad_kind[kOffsetKind] = 0;
  EXPECT_EQ(DecodePrefix(bad_kind).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad_kind[kOffsetKind] = kMaxKind + 1;
  EXPECT_EQ(DecodePrefix(bad_kind).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string bad_flags = good;
  bad_flags[kOffsetFlags + 1] = static_cast<char>(0x80);  // undefined bit
  EXPECT_EQ(DecodePrefix(bad_flags).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string bad_reserved = good;
  bad_reserved[kOffsetReserved] = 1;
  EXPECT_EQ(DecodePrefix(bad_reserved).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PrefixTest, TheSenderAcceptsFdsFlagIsDefined) {
  Prefix in;
  in.flags = kFlagSenderAcceptsFds;
  absl::StatusOr<Prefix> out = DecodePrefix(Encode(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->flags, kFlagSenderAcceptsFds);
  std::string bytes = Encode(Prefix{});
  StampFlags(bytes.data(), kFlagSenderAcceptsFds);
  EXPECT_EQ(DecodePrefix(bytes)->flags, kFlagSenderAcceptsFds);
}

TEST(PrefixTest, OtherVersionIsUnimplementedAndNamesIt) {
  std::string bytes = Encode(Prefix{});
  bytes[kOffsetVersion] = 9;
  absl::Status status = DecodePrefix(bytes).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(status.message().find("version 9"), absl::string_view::npos);
}

}  // namespace
}  // namespace switchboard::wire
