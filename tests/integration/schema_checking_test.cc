// SPDX-License-Identifier: MIT
//
// Large schemas on the real broker (docs/ARCHITECTURE.md "Schemas"): a
// REGISTER_NAME or RegisterTypes of nearly 4 MiB of descriptors is checked
// off the broker's loop, so other clients are served meanwhile; the
// sender's own later frames are answered after it, in order; and a sender
// that leaves, or a broker that stops, while its schema is checked leaves
// nothing behind.
#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/big_schema.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/topic_frames.h"
#include "tests/testing/wait_for.h"
#include "wire/frame.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerOptions;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::CallHeader;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::EncodeFrame;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::ManyMessagesSchema;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::ReadReply;
using ::switchboard::testing::RegisterNameHeader;
using ::switchboard::testing::ReplyStatus;

constexpr absl::Duration kTimeout = absl::Seconds(60);
// Just under the 4 MiB one connection may have the broker keep.
constexpr size_t kSchemaBytes = size_t{39} * (size_t{1} << 20) / 10;

RawConnection ConnectRaw(const BrokerProcess& broker) {
  absl::StatusOr<RawConnection> raw = RawConnection::Connect(broker.address());
  EXPECT_THAT(raw, IsOk());
  EXPECT_THAT(raw->Handshake(""), IsOk());
  return *std::move(raw);
}

// A REGISTER_NAME of `name` with a schema of about kSchemaBytes, as request
// `id`.
std::string BigRegisterName(uint64_t id, absl::string_view name) {
  return EncodeFrame(wire::Kind::kRegisterName, id, RegisterNameHeader(name),
                     ManyMessagesSchema(kSchemaBytes).SerializeAsString());
}

// A switchboard.Broker/RegisterTypes call of the same files.
std::string BigRegisterTypes(uint64_t id) {
  v1::RegisterTypesRequest request;
  *request.mutable_files() = ManyMessagesSchema(kSchemaBytes).files();
  return EncodeFrame(
      wire::Kind::kCall, id,
      CallHeader("switchboard.Broker", "RegisterTypes", kTimeout),
      request.SerializeAsString());
}

std::string Ping(uint64_t id) {
  return EncodeFrame(wire::Kind::kPing, id, v1::Header());
}

// PINGs the broker through its own client until stopped; every PING must
// be answered. Reports how many and the longest round trip (not asserted:
// tests do not judge speed).
class Pinger {
 public:
  explicit Pinger(const BrokerProcess& broker)
      : client_(ConnectOrDie(broker, "pinger")), thread_([this] { Run(); }) {}
  ~Pinger() { Stop(); }

  // Stops and returns how many PINGs were answered.
  uint64_t Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return answered_;
  }
  bool all_answered() const { return failures_ == 0; }
  uint64_t answered() const { return answered_; }
  absl::Duration longest() const { return longest_; }

 private:
  void Run() {
    while (!stop_) {
      const absl::Time start = absl::Now();
      const absl::Status status = client_->Ping(kTimeout);
      if (!status.ok()) {
        ++failures_;
        std::cerr << "PING failed: " << status << "\n";
        return;
      }
      longest_ = std::max(longest_, absl::Now() - start);
      ++answered_;
    }
  }

  std::unique_ptr<Client> client_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> answered_{0};
  std::atomic<uint64_t> failures_{0};
  absl::Duration longest_;  // written by the thread, read after Stop()
  std::thread thread_;
};

// Sends `request` (request id 1) and a PING (id 2) at once from `sender`
// while another client PINGs, and checks that the request is answered OK
// before the PING, and that every PING of the other client was answered.
void SendWhileOthersPing(const BrokerProcess& broker, RawConnection& sender,
                         const std::string& request, absl::string_view what) {
  Pinger pinger(broker);
  ASSERT_TRUE(
      testing::WaitFor([&] { return pinger.answered() > 0; }, kTimeout));
  const uint64_t before = pinger.answered();
  ASSERT_THAT(sender.Send(request + Ping(2)), IsOk());
  absl::StatusOr<wire::Frame> reply = ReadReply(sender, 1, kTimeout);
  const uint64_t during = pinger.answered() - before;
  ASSERT_THAT(reply, IsOk());
  absl::StatusOr<absl::Status> status = ReplyStatus(*reply);
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(*status, IsOk());
  // The sender's later frame waited for the verdict.
  absl::StatusOr<wire::Frame> pong = ReadReply(sender, 2, kTimeout);
  ASSERT_THAT(pong, IsOk());
  EXPECT_EQ(pong->kind(), wire::Kind::kReply);
  pinger.Stop();
  EXPECT_TRUE(pinger.all_answered());
  std::cout << what << " of " << request.size()
            << " bytes: another client's PINGs answered meanwhile: " << during
            << ", longest round trip " << absl::FormatDuration(pinger.longest())
            << "\n";
}

TEST(SchemaCheckingTest, ALargeSchemaIsCheckedWhileOthersAreServed) {
  BrokerProcess broker;
  RawConnection sender = ConnectRaw(broker);
  SendWhileOthersPing(broker, sender, BigRegisterName(1, "test.big"),
                      "REGISTER_NAME");

  // The schema was kept: Describe gives its methods and file.
  std::unique_ptr<Client> asker = ConnectOrDie(broker, "asker");
  v1::DescribeRequest describe;
  describe.set_name("test.big");
  absl::StatusOr<v1::Description> description =
      asker->Call<v1::Description>("switchboard.Broker", "Describe", describe);
  ASSERT_THAT(description, IsOk());
  ASSERT_EQ(description->methods_size(), 1);
  EXPECT_EQ(description->methods(0).response_type(), "big.M1");
  ASSERT_EQ(description->files().file_size(), 1);
  EXPECT_EQ(
      description->files().file(0).message_type_size(),
      ManyMessagesSchema(kSchemaBytes).files().file(0).message_type_size());
}

TEST(SchemaCheckingTest, LargeTypeFilesAreCheckedWhileOthersAreServed) {
  BrokerProcess broker;
  RawConnection sender = ConnectRaw(broker);
  SendWhileOthersPing(broker, sender, BigRegisterTypes(1), "RegisterTypes");

  std::unique_ptr<Client> asker = ConnectOrDie(broker, "asker");
  v1::DescribeRequest describe;
  describe.set_type("big.M1234");
  absl::StatusOr<v1::Description> description =
      asker->Call<v1::Description>("switchboard.Broker", "Describe", describe);
  ASSERT_THAT(description, IsOk());
  ASSERT_EQ(description->files().file_size(), 1);
  EXPECT_EQ(description->files().file(0).name(), "big.proto");
}

TEST(SchemaCheckingTest, ABrokenLargeSchemaIsRefusedInOrder) {
  BrokerProcess broker;
  RawConnection sender = ConnectRaw(broker);
  v1::ServiceSchema schema = ManyMessagesSchema(kSchemaBytes);
  schema.mutable_methods(0)->set_request_type("big.Missing");
  ASSERT_THAT(sender.Send(EncodeFrame(wire::Kind::kRegisterName, 1,
                                      RegisterNameHeader("test.big"),
                                      schema.SerializeAsString()) +
                          Ping(2)),
              IsOk());
  absl::StatusOr<wire::Frame> reply = ReadReply(sender, 1, kTimeout);
  ASSERT_THAT(reply, IsOk());
  absl::StatusOr<absl::Status> status = ReplyStatus(*reply);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status->message().find("big.Missing"), absl::string_view::npos)
      << *status;
  EXPECT_THAT(ReadReply(sender, 2, kTimeout), IsOk());
}

TEST(SchemaCheckingTest, ASenderLeavingWhileItsSchemaIsCheckedLeavesNothing) {
  // Room for one copy of the schema per uid: a copy kept or charged for
  // the sender that left would refuse the second sender's.
  BrokerOptions options;
  options.flags = {
      absl::StrCat("--max-schema-bytes-per-uid=", kSchemaBytes * 3 / 2)};
  BrokerProcess broker(options);
  for (int i = 0; i < 3; ++i) {
    RawConnection leaver = ConnectRaw(broker);
    ASSERT_THAT(leaver.Send(BigRegisterName(1, "test.big")), IsOk());
    leaver.Close();
  }
  std::unique_ptr<Client> pinger = ConnectOrDie(broker, "pinger");
  EXPECT_THAT(pinger->Ping(kTimeout), IsOk());

  RawConnection sender = ConnectRaw(broker);
  ASSERT_THAT(sender.Send(BigRegisterName(1, "test.big")), IsOk());
  absl::StatusOr<wire::Frame> reply = ReadReply(sender, 1, kTimeout);
  ASSERT_THAT(reply, IsOk());
  absl::StatusOr<absl::Status> status = ReplyStatus(*reply);
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(*status, IsOk());
}

TEST(SchemaCheckingTest, TheBrokerStopsCleanlyWhileASchemaIsChecked) {
  BrokerProcess broker;
  RawConnection sender = ConnectRaw(broker);
  ASSERT_THAT(sender.Send(BigRegisterName(1, "test.big")), IsOk());
  absl::StatusOr<int> exit_code = broker.Stop();
  ASSERT_THAT(exit_code, IsOk());
  EXPECT_EQ(*exit_code, 0);
}

}  // namespace
}  // namespace switchboard
