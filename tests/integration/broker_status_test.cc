// SPDX-License-Identifier: MIT
//
// switchboard.Broker/GetStatus (docs/PROTOCOL.md 5.6,
// proto/switchboard/v1/broker.proto) through the client library: its
// counters follow publishes, deliveries and streams exactly, its
// subscription list shows each subscription's limits and totals and
// forgets ended ones, and other methods or streamed calls are refused.
#include "tests/testing/broker_status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/service.h"
#include "switchboard/stream.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/message_log.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::FindSubscription;
using ::switchboard::testing::GetBrokerStatus;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::MessageLog;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(20);

class BrokerStatusTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    subscriber_ = ConnectOrDie(broker_, "subscriber");
    publisher_ = ConnectOrDie(broker_, "publisher");
  }

  absl::StatusOr<v1::BrokerStatus> Status() {
    return GetBrokerStatus(*publisher_);
  }

  BrokerProcess broker_{GetParam()};
  std::unique_ptr<Client> subscriber_;
  std::unique_ptr<Client> publisher_;
};

TEST_P(BrokerStatusTest, DescribesTheBroker) {
  absl::StatusOr<v1::BrokerStatus> first = Status();
  ASSERT_THAT(first, IsOk());
  EXPECT_FALSE(first->version().empty());
  EXPECT_GE(first->connections(), 2u);
  absl::StatusOr<v1::BrokerStatus> second = Status();
  ASSERT_THAT(second, IsOk());
  EXPECT_GE(second->uptime_us(), first->uptime_us());
  // The first GetStatus call came in between.
  EXPECT_GT(second->frames_in(), first->frames_in());
  EXPECT_GT(second->frames_out(), first->frames_out());
}

TEST_P(BrokerStatusTest, CountsPublishesDeliveriesAndSubscriptions) {
  MessageLog wide_log;
  MessageLog narrow_log;
  absl::StatusOr<Subscription> wide =
      subscriber_->Subscribe("status.>", wide_log.OnMessage(),
                             wide_log.Options(10, OverflowPolicy::kDropNewest));
  ASSERT_THAT(wide, IsOk());
  const uint64_t wide_id = wide->id();
  absl::StatusOr<Subscription> narrow =
      subscriber_->Subscribe("status.a", narrow_log.OnMessage());
  ASSERT_THAT(narrow, IsOk());
  const uint64_t narrow_id = narrow->id();

  absl::StatusOr<v1::BrokerStatus> before = Status();
  ASSERT_THAT(before, IsOk());
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(publisher_->PublishConfirmed("status.a", Payload("a")), IsOk());
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_THAT(publisher_->PublishConfirmed("status.b", Payload("b")), IsOk());
  }
  ASSERT_THAT(publisher_->PublishConfirmed("elsewhere", Payload("c")), IsOk());
  ASSERT_TRUE(wide_log.WaitForMessages(7, kTimeout));
  ASSERT_TRUE(narrow_log.WaitForMessages(5, kTimeout));
  ASSERT_THAT(subscriber_->Ping(), IsOk());

  absl::StatusOr<v1::BrokerStatus> after = Status();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->publishes() - before->publishes(), 8u);
  EXPECT_EQ(after->messages_delivered() - before->messages_delivered(), 12u);
  EXPECT_EQ(after->messages_dropped() - before->messages_dropped(), 0u);

  const uint64_t connection = subscriber_->connection_id();
  absl::StatusOr<v1::SubscriptionStatus> w =
      FindSubscription(*after, connection, wide_id);
  ASSERT_THAT(w, IsOk());
  EXPECT_EQ(w->pattern(), "status.>");
  EXPECT_EQ(w->policy(), "drop_newest");
  EXPECT_EQ(w->max_messages(), 10u);
  EXPECT_EQ(w->max_bytes(), 8u << 20);
  EXPECT_EQ(w->delivered(), 7u);
  EXPECT_EQ(w->dropped(), 0u);
  EXPECT_EQ(w->queued_messages(), 0u);
  EXPECT_EQ(w->queued_bytes(), 0u);
  absl::StatusOr<v1::SubscriptionStatus> n =
      FindSubscription(*after, connection, narrow_id);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(n->pattern(), "status.a");
  EXPECT_EQ(n->policy(), "drop_oldest");
  EXPECT_EQ(n->max_messages(), 1024u);
  EXPECT_EQ(n->delivered(), 5u);

  // Ended subscriptions leave the list.
  ASSERT_THAT(narrow->Unsubscribe(), IsOk());
  absl::StatusOr<v1::BrokerStatus> unsubscribed = Status();
  ASSERT_THAT(unsubscribed, IsOk());
  EXPECT_THAT(FindSubscription(*unsubscribed, connection, narrow_id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(FindSubscription(*unsubscribed, connection, wide_id), IsOk());
  // A closed connection's subscriptions go with it (the broker notices the
  // close on its own time, so wait for it).
  subscriber_.reset();
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::BrokerStatus> gone = Status();
        if (!gone.ok()) return false;
        for (const v1::SubscriptionStatus& s : gone->subscriptions()) {
          if (s.connection_id() == connection) return false;
        }
        return true;
      },
      kTimeout));
}

TEST_P(BrokerStatusTest, CountsStreamsAndTheirReplies) {
  Service service("status.streams");
  service.AddStreamMethod("Three",
                          [](const CallInfo&, const Payload&,
                             StreamWriter& writer) -> absl::Status {
                            for (int i = 0; i < 3; ++i) {
                              if (absl::Status s = writer.Write(Payload("x"));
                                  !s.ok())
                                return s;
                            }
                            return absl::OkStatus();
                          });
  ASSERT_THAT(subscriber_->Serve(std::move(service)), IsOk());
  absl::StatusOr<v1::BrokerStatus> before = Status();
  ASSERT_THAT(before, IsOk());
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      publisher_->CallStream("status.streams", "Three", Payload());
  ASSERT_THAT(stream, IsOk());
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT((*stream)->Next(), IsOk());
  }
  ASSERT_THAT((*stream)->Next(), IsOk());  // the end
  absl::StatusOr<v1::BrokerStatus> after = Status();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->streams() - before->streams(), 1u);
  EXPECT_GE(after->stream_replies() - before->stream_replies(), 3u);
}

TEST_P(BrokerStatusTest, CountsDropsOfASlowSubscription) {
  // A subscriber held in its first callback cannot take the rest; with a
  // queue of 1 and drop_newest, what does not fit is dropped and counted.
  MessageLog held(/*hold_first=*/true);
  absl::StatusOr<Subscription> subscription =
      subscriber_->Subscribe("status.slow", held.OnMessage(),
                             held.Options(1, OverflowPolicy::kDropNewest, 1));
  ASSERT_THAT(subscription, IsOk());
  // Dropping the handle waits for the held callback: release it first.
  absl::Cleanup release = [&held] { held.Release(); };
  ASSERT_THAT(publisher_->PublishConfirmed("status.slow", Payload("first")),
              IsOk());
  ASSERT_TRUE(held.WaitForMessages(1, kTimeout));
  absl::StatusOr<v1::BrokerStatus> before = Status();
  ASSERT_THAT(before, IsOk());
  // A 1-byte limit holds one message at most; the socket takes some more.
  int dropped = 0;
  for (int i = 0; i < 1000 && dropped == 0; ++i) {
    absl::StatusOr<PublishResult> result = publisher_->PublishConfirmed(
        "status.slow", Payload(std::string(64 << 10, 'd')));
    ASSERT_THAT(result, IsOk());
    dropped += result->dropped;
  }
  ASSERT_EQ(dropped, 1);
  absl::StatusOr<v1::BrokerStatus> after = Status();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->messages_dropped() - before->messages_dropped(), 1u);
  absl::StatusOr<v1::SubscriptionStatus> s = FindSubscription(
      *after, subscriber_->connection_id(), subscription->id());
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->dropped(), 1u);
  EXPECT_EQ(s->queued_messages(), 1u);
}

TEST_P(BrokerStatusTest, OtherMethodsAreUnimplemented) {
  EXPECT_THAT(
      publisher_->Call("switchboard.Broker", "Reboot", Payload(), kTimeout),
      StatusIs(absl::StatusCode::kUnimplemented));
}

INSTANTIATE_TEST_SUITE_P(AllTransports, BrokerStatusTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
