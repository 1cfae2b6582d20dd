// SPDX-License-Identifier: MIT
//
// Messages with SharedBuffers (docs/PROTOCOL.md 2.5, 5.5): a memfd published
// over a Unix socket reaches a Unix subscriber as a buffer with the same
// content; a TCP subscriber, which cannot take descriptors, gets a drop
// report instead, before its next message; buffers published inline (from a
// TCP publisher) reach both. The broker listens on both transports.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/shared_buffer.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/message_log.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::MessageLog;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::testing::ElementsAre;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr size_t kBufferBytes = 300000;

std::string Pattern(size_t size, int seed) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    bytes[i] = static_cast<char>((i * 131 + seed) % 251);
  }
  return bytes;
}

absl::StatusOr<SharedBuffer> PatternBuffer(size_t size, int seed) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(size, "pub-test");
  if (!buffer.ok()) return buffer.status();
  const std::string bytes = Pattern(size, seed);
  std::copy(bytes.begin(), bytes.end(), buffer->mutable_data().begin());
  if (absl::Status s = buffer->Seal(SharedBuffer::Sealing::kImmutable);
      !s.ok()) {
    return s;
  }
  return buffer;
}

class PublishBuffersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    ASSERT_FALSE(broker_.tcp_address().empty());
    unix_subscriber_ = Connect(broker_.unix_address(), "unix-subscriber");
    tcp_subscriber_ = Connect(broker_.tcp_address(), "tcp-subscriber");
    ASSERT_NE(unix_subscriber_, nullptr);
    ASSERT_NE(tcp_subscriber_, nullptr);
    absl::StatusOr<Subscription> u = unix_subscriber_->Subscribe(
        "buffers.>", unix_log_.OnMessage(), unix_log_.Options());
    ASSERT_THAT(u, IsOk());
    unix_subscription_ = *std::move(u);
    absl::StatusOr<Subscription> t = tcp_subscriber_->Subscribe(
        "buffers.>", tcp_log_.OnMessage(), tcp_log_.Options());
    ASSERT_THAT(t, IsOk());
    tcp_subscription_ = *std::move(t);
  }

  std::unique_ptr<Client> Connect(const std::string& address,
                                  const std::string& name) {
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(address, broker_.connect_options(name));
    EXPECT_THAT(client, IsOk()) << address;
    return client.ok() ? *std::move(client) : nullptr;
  }

  BrokerProcess broker_{Transport::kTcp};
  MessageLog unix_log_;
  MessageLog tcp_log_;
  std::unique_ptr<Client> unix_subscriber_;
  std::unique_ptr<Client> tcp_subscriber_;
  // Declared after the clients: the subscriptions end first.
  Subscription unix_subscription_;
  Subscription tcp_subscription_;
};

TEST_F(PublishBuffersTest, MemfdReachesUnixAndTcpGetsADropReport) {
  std::unique_ptr<Client> publisher =
      Connect(broker_.unix_address(), "unix-publisher");
  ASSERT_NE(publisher, nullptr);
  absl::StatusOr<SharedBuffer> buffer = PatternBuffer(kBufferBytes, 7);
  ASSERT_THAT(buffer, IsOk());
  absl::StatusOr<PublishResult> result = publisher->PublishConfirmed(
      "buffers.frame", Payload("frame 7", {*buffer}));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->delivered, 1u);  // the Unix subscriber
  EXPECT_EQ(result->dropped, 1u);    // the TCP one takes no descriptors
  ASSERT_THAT(publisher->Publish("buffers.after", Payload("after")), IsOk());

  ASSERT_TRUE(unix_log_.WaitForMessages(2, kTimeout));
  std::vector<Message> received = unix_log_.Messages();
  EXPECT_EQ(received[0].topic, "buffers.frame");
  EXPECT_EQ(received[0].payload, "frame 7");
  ASSERT_EQ(received[0].payload.buffers().size(), 1u);
  const SharedBuffer& got = received[0].payload.buffers()[0];
  EXPECT_GE(got.fd(), 0);
  ASSERT_EQ(got.size(), kBufferBytes);
  EXPECT_TRUE(got.data() == Pattern(kBufferBytes, 7));
  EXPECT_EQ(received[1].payload, "after");
  EXPECT_EQ(unix_log_.dropped(), 0u);

  // The TCP subscriber: the drop report, then the next message.
  ASSERT_TRUE(tcp_log_.WaitForMessages(1, kTimeout));
  std::vector<MessageLog::Entry> entries = tcp_log_.Entries();
  ASSERT_EQ(entries.size(), 2u);
  ASSERT_TRUE(entries[0].dropped);
  EXPECT_EQ(entries[0].drop.subscription, tcp_subscription_.id());
  EXPECT_EQ(entries[0].drop.count, 1u);
  EXPECT_EQ(entries[0].drop.total, 1u);
  ASSERT_FALSE(entries[1].dropped);
  EXPECT_EQ(entries[1].message.topic, "buffers.after");
  EXPECT_TRUE(entries[1].message.payload.buffers().empty());
}

TEST_F(PublishBuffersTest, InlineBuffersReachBothTransports) {
  std::unique_ptr<Client> publisher =
      Connect(broker_.tcp_address(), "tcp-publisher");
  ASSERT_NE(publisher, nullptr);
  absl::StatusOr<SharedBuffer> first = PatternBuffer(kBufferBytes, 1);
  absl::StatusOr<SharedBuffer> second = PatternBuffer(1000, 2);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  absl::StatusOr<PublishResult> result = publisher->PublishConfirmed(
      "buffers.inline", Payload("two buffers", {*first, *second}));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->delivered, 2u);
  EXPECT_EQ(result->dropped, 0u);

  for (MessageLog* log : {&unix_log_, &tcp_log_}) {
    ASSERT_TRUE(log->WaitForMessages(1, kTimeout));
    std::vector<Message> received = log->Messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].payload, "two buffers");
    ASSERT_EQ(received[0].payload.buffers().size(), 2u);
    EXPECT_TRUE(received[0].payload.buffers()[0].data() ==
                Pattern(kBufferBytes, 1));
    EXPECT_TRUE(received[0].payload.buffers()[1].data() == Pattern(1000, 2));
    EXPECT_EQ(log->dropped(), 0u);
  }
  EXPECT_EQ(tcp_log_.Messages()[0].payload.buffers()[0].fd(), -1);
}

TEST_F(PublishBuffersTest, UnsealedBufferIsRefusedByTheLibrary) {
  std::unique_ptr<Client> publisher =
      Connect(broker_.unix_address(), "unix-publisher");
  ASSERT_NE(publisher, nullptr);
  absl::StatusOr<SharedBuffer> unsealed = SharedBuffer::Create(100, "unsealed");
  ASSERT_THAT(unsealed, IsOk());
  EXPECT_THAT(publisher->Publish("buffers.bad", Payload("x", {*unsealed})),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(publisher->connected());
  ASSERT_THAT(publisher->PublishConfirmed("buffers.ok", Payload("ok")), IsOk());
  ASSERT_TRUE(unix_log_.WaitForMessages(1, kTimeout));
  EXPECT_THAT(unix_log_.Payloads(), ElementsAre("ok"));
}

}  // namespace
}  // namespace switchboard
