// SPDX-License-Identifier: MIT
//
// What a large schema costs the real broker's memory (docs/ARCHITECTURE.md
// "Schemas"; docs/SECURITY.md): the broker keeps a schema's files as
// serialized bytes with a small index, not as a descriptor pool, so after a
// schema or a RegisterTypes of nearly 4 MiB (and the scratch pool that
// checked it) its resident memory settles within a small multiple of the
// bytes. Not with sanitizers (tests/CMakeLists.txt): their allocators keep
// freed memory in quarantine.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/big_schema.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/topic_frames.h"
#include "tests/testing/wait_for.h"
#include "wire/frame.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::CallHeader;
using ::switchboard::testing::EncodeFrame;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::ManyMessagesSchema;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::ReadReply;
using ::switchboard::testing::RegisterNameHeader;
using ::switchboard::testing::ReplyStatus;
using ::switchboard::testing::ResidentBytes;
using ::switchboard::testing::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(60);
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr size_t kSchemaBytes = size_t{39} * kMiB / 10;
// What the broker may keep resident per byte of schema it accepted, once
// the scratch memory of the check is given back: the bytes and their
// index, allocator slack included. A kept descriptor pool took about 20
// (REGISTER_NAME) and 45 (RegisterTypes) times the bytes.
constexpr uint64_t kMaxResidentPerByte = 4;

// Sends `request` (request id 1) on a new connection, expects it answered
// OK, and checks the broker's resident memory settles within
// kMaxResidentPerByte times the request's size above what it was before.
void ExpectBoundedCost(const BrokerProcess& broker, RawConnection& sender,
                       const std::string& request, absl::string_view what) {
  absl::StatusOr<uint64_t> baseline = ResidentBytes(broker.pid());
  ASSERT_THAT(baseline, IsOk());
  ASSERT_THAT(sender.Send(request), IsOk());
  absl::StatusOr<wire::Frame> reply = ReadReply(sender, 1, kTimeout);
  ASSERT_THAT(reply, IsOk());
  absl::StatusOr<absl::Status> status = ReplyStatus(*reply);
  ASSERT_THAT(status, IsOk());
  ASSERT_THAT(*status, IsOk());
  absl::StatusOr<uint64_t> after = ResidentBytes(broker.pid());
  ASSERT_THAT(after, IsOk());
  const uint64_t bound = *baseline + kMaxResidentPerByte * request.size();
  // The server trims the heap about once a second when much is free.
  uint64_t now = *after;
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<uint64_t> resident = ResidentBytes(broker.pid());
        now = resident.ok() ? *resident : now;
        return now <= bound;
      },
      kTimeout))
      << what << ": resident " << now / kMiB << " MiB, baseline "
      << *baseline / kMiB << " MiB, request " << request.size() << " bytes";
  std::cout << what << " of " << request.size() << " bytes: broker resident "
            << *baseline / kMiB << " MiB before, " << *after / kMiB
            << " MiB at the reply, " << now / kMiB << " MiB settled ("
            << static_cast<double>(now - std::min(now, *baseline)) /
                   static_cast<double>(request.size())
            << " bytes per schema byte)\n";
}

RawConnection ConnectRaw(const BrokerProcess& broker) {
  absl::StatusOr<RawConnection> raw = RawConnection::Connect(broker.address());
  EXPECT_THAT(raw, IsOk());
  EXPECT_THAT(raw->Handshake(""), IsOk());
  return *std::move(raw);
}

TEST(SchemaMemoryTest, ALargeSchemaCostsASmallMultipleOfItsBytes) {
  BrokerProcess broker;
  RawConnection sender = ConnectRaw(broker);
  ExpectBoundedCost(
      broker, sender,
      EncodeFrame(wire::Kind::kRegisterName, 1, RegisterNameHeader("test.big"),
                  ManyMessagesSchema(kSchemaBytes).SerializeAsString()),
      "REGISTER_NAME");
}

TEST(SchemaMemoryTest, LargeTypeFilesCostASmallMultipleOfTheirBytes) {
  BrokerProcess broker;
  RawConnection sender = ConnectRaw(broker);
  v1::RegisterTypesRequest request;
  *request.mutable_files() = ManyMessagesSchema(kSchemaBytes).files();
  ExpectBoundedCost(
      broker, sender,
      EncodeFrame(wire::Kind::kCall, 1,
                  CallHeader("switchboard.Broker", "RegisterTypes", kTimeout),
                  request.SerializeAsString()),
      "RegisterTypes");
}

}  // namespace
}  // namespace switchboard
