// SPDX-License-Identifier: MIT
//
// Topics through the real broker with the real client library
// (docs/PROTOCOL.md 5.5, 9): which subscriptions a pattern matches, what a
// MESSAGE carries, per-publisher ordering with one and several publishers,
// fan-out to many subscribers, and one delivery per matching subscription.
// Every suite runs over both transports.
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/testing/echo.pb.h"
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
using ::switchboard::testing::IsOk;
using ::switchboard::testing::MessageLog;
using ::switchboard::testing::RepeatRequest;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::ElementsAre;

constexpr absl::Duration kTimeout = absl::Seconds(20);

// The broker's largest per-subscription message limit
// (docs/PROTOCOL.md 5.5): ordering tests must see every message, so their
// subscribers ask for a queue that holds a whole burst.
constexpr uint32_t kRoomyQueue = 65536;

struct MatchCase {
  const char* pattern;
  const char* topic;
  bool matches;
};

// Patterns against topics a client may publish on.
constexpr MatchCase kMatchCases[] = {
    {"a", "a", true},           {"a", "b", false},
    {"a", "a.b", false},        {"a.b", "a.b", true},
    {"a.b", "a.B", false},      {"a.b", "a.b.c", false},
    {"a.b.c", "a.b", false},    {"video_1.frame-2", "video_1.frame-2", true},
    {"*", "a", true},           {"*", "a.b", false},
    {"a.*", "a.b", true},       {"a.*", "a", false},
    {"a.*", "a.b.c", false},    {"a.*", "b.a", false},
    {"*.b", "a.b", true},       {"*.b", "a.c", false},
    {"a.*.c", "a.b.c", true},   {"a.*.c", "a.b.d", false},
    {"a.*.c", "a.c", false},    {"*.*", "a.b", true},
    {"*.*", "a", false},        {"*.*", "a.b.c", false},
    {">", "a", true},           {">", "a.b.c.d", true},
    {"a.>", "a.b", true},       {"a.>", "a.b.c", true},
    {"a.>", "a", false},        {"a.>", "b.a", false},
    {"a.>", "ab.c", false},     {"*.>", "a.b", true},
    {"*.>", "a", false},        {"a.*.>", "a.b.c", true},
    {"a.*.>", "a.b.c.d", true}, {"a.*.>", "a.b", false},
};

class PubSubTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  BrokerProcess broker_{GetParam()};
};

TEST_P(PubSubTest, PatternsMatchTopicsAsTheSpecSays) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  int row = 0;
  for (const MatchCase& c : kMatchCases) {
    SCOPED_TRACE(
        absl::StrCat("pattern \"", c.pattern, "\", topic \"", c.topic, "\""));
    const std::string payload = absl::StrCat("row ", row++);
    MessageLog log;
    absl::StatusOr<Subscription> subscription =
        subscriber->Subscribe(c.pattern, log.OnMessage(), log.Options());
    ASSERT_THAT(subscription, IsOk());
    // The only live subscription: the broker's count says whether it
    // matched.
    absl::StatusOr<PublishResult> result =
        publisher->PublishConfirmed(c.topic, Payload(payload));
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->delivered, c.matches ? 1u : 0u);
    EXPECT_EQ(result->dropped, 0u);
    if (c.matches) {
      ASSERT_TRUE(log.WaitForMessages(1, kTimeout));
      std::vector<Message> messages = log.Messages();
      EXPECT_EQ(messages[0].topic, c.topic);
      EXPECT_EQ(messages[0].payload, payload);
    }
    ASSERT_THAT(subscription->Unsubscribe(), IsOk());
    EXPECT_EQ(log.message_count(), c.matches ? 1u : 0u);
  }
}

TEST_P(PubSubTest, MessageCarriesTopicTypeSenderAndPayload) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  MessageLog log;
  absl::StatusOr<Subscription> subscription =
      subscriber->Subscribe("video.>", log.OnMessage());
  ASSERT_THAT(subscription, IsOk());

  ASSERT_THAT(
      publisher->Publish("video.raw", Payload("raw bytes"), "example.Raw"),
      IsOk());
  RepeatRequest typed;
  typed.set_text("typed");
  typed.set_times(3);
  ASSERT_THAT(publisher->Publish("video.typed.one", typed), IsOk());
  ASSERT_TRUE(log.WaitForMessages(2, kTimeout));

  std::vector<Message> messages = log.Messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].topic, "video.raw");
  EXPECT_EQ(messages[0].message_type, "example.Raw");
  EXPECT_EQ(messages[0].payload, "raw bytes");
  EXPECT_EQ(messages[0].sender, publisher->connection_id());
  EXPECT_EQ(messages[1].topic, "video.typed.one");
  EXPECT_EQ(messages[1].message_type, "switchboard.testing.RepeatRequest");
  absl::StatusOr<RepeatRequest> parsed = messages[1].As<RepeatRequest>();
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->text(), "typed");
  EXPECT_EQ(parsed->times(), 3);
  EXPECT_EQ(messages[1].sender, publisher->connection_id());
  if (GetParam() == Transport::kUnix) {
    EXPECT_EQ(messages[0].sender_pid, static_cast<uint32_t>(::getpid()));
  }
  EXPECT_THAT(messages[1].As<RepeatRequest>(), IsOk());
}

TEST_P(PubSubTest, PublishingWithoutSubscribersIsNotAnError) {
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  EXPECT_THAT(publisher->Publish("nobody.listens", Payload("x")), IsOk());
  absl::StatusOr<PublishResult> result =
      publisher->PublishConfirmed("nobody.listens", Payload("y"));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->delivered, 0u);
  EXPECT_EQ(result->dropped, 0u);
}

// Payloads are "SEQ" so the subscriber can check the order.
void PublishSequence(Client& publisher, absl::string_view topic, int count) {
  for (int i = 0; i < count; ++i) {
    ASSERT_THAT(publisher.Publish(topic, Payload(absl::StrCat(i))), IsOk());
  }
}

// For each sender, the sequence numbers it sent in the order received.
std::map<uint64_t, std::vector<int>> SequencesBySender(const MessageLog& log) {
  std::map<uint64_t, std::vector<int>> out;
  for (const Message& message : log.Messages()) {
    int seq = -1;
    EXPECT_TRUE(absl::SimpleAtoi(message.payload.view(), &seq))
        << message.payload.view();
    out[message.sender].push_back(seq);
  }
  return out;
}

std::vector<int> Iota(int count) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) out.push_back(i);
  return out;
}

TEST_P(PubSubTest, OnePublishersMessagesArriveInOrder) {
  constexpr int kCount = 5000;
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  MessageLog log;
  absl::StatusOr<Subscription> subscription = subscriber->Subscribe(
      "order.one", log.OnMessage(), log.Options(kRoomyQueue));
  ASSERT_THAT(subscription, IsOk());
  PublishSequence(*publisher, "order.one", kCount);
  ASSERT_TRUE(log.WaitForMessages(kCount, kTimeout))
      << log.message_count() << " of " << kCount;
  std::map<uint64_t, std::vector<int>> sequences = SequencesBySender(log);
  ASSERT_EQ(sequences.size(), 1u);
  EXPECT_EQ(sequences[publisher->connection_id()], Iota(kCount));
  EXPECT_EQ(log.dropped(), 0u);
}

TEST_P(PubSubTest, EachPublishersOrderHoldsAtEverySubscriber) {
  constexpr int kPublishers = 4;
  constexpr int kSubscribers = 2;
  constexpr int kCount = 1500;
  std::vector<std::unique_ptr<Client>> subscribers;
  std::vector<std::unique_ptr<MessageLog>> logs;
  std::vector<Subscription> subscriptions;
  for (int i = 0; i < kSubscribers; ++i) {
    subscribers.push_back(ConnectOrDie(broker_, absl::StrCat("sub", i)));
    logs.push_back(std::make_unique<MessageLog>());
    absl::StatusOr<Subscription> subscription = subscribers.back()->Subscribe(
        "order.*", logs.back()->OnMessage(), logs.back()->Options(kRoomyQueue));
    ASSERT_THAT(subscription, IsOk());
    subscriptions.push_back(*std::move(subscription));
  }
  std::vector<std::unique_ptr<Client>> publishers;
  for (int i = 0; i < kPublishers; ++i) {
    publishers.push_back(ConnectOrDie(broker_, absl::StrCat("pub", i)));
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kPublishers; ++i) {
    threads.emplace_back([&, i] {
      PublishSequence(*publishers[i], absl::StrCat("order.p", i), kCount);
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int s = 0; s < kSubscribers; ++s) {
    SCOPED_TRACE(absl::StrCat("subscriber ", s));
    ASSERT_TRUE(logs[s]->WaitForMessages(kPublishers * kCount, kTimeout))
        << logs[s]->message_count();
    std::map<uint64_t, std::vector<int>> sequences =
        SequencesBySender(*logs[s]);
    ASSERT_EQ(sequences.size(), static_cast<size_t>(kPublishers));
    for (const std::unique_ptr<Client>& publisher : publishers) {
      EXPECT_EQ(sequences[publisher->connection_id()], Iota(kCount))
          << "publisher :" << publisher->connection_id();
    }
    EXPECT_EQ(logs[s]->dropped(), 0u);
  }
}

TEST_P(PubSubTest, FanOutReachesEverySubscriberExactlyOnce) {
  constexpr int kSubscribers = 16;
  constexpr int kCount = 300;
  std::vector<std::unique_ptr<Client>> subscribers;
  std::vector<std::unique_ptr<MessageLog>> logs;
  std::vector<Subscription> subscriptions;
  for (int i = 0; i < kSubscribers; ++i) {
    subscribers.push_back(ConnectOrDie(broker_, absl::StrCat("sub", i)));
    logs.push_back(std::make_unique<MessageLog>());
    absl::StatusOr<Subscription> subscription = subscribers.back()->Subscribe(
        "fan.out", logs.back()->OnMessage(), logs.back()->Options(kRoomyQueue));
    ASSERT_THAT(subscription, IsOk());
    subscriptions.push_back(*std::move(subscription));
  }
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  PublishSequence(*publisher, "fan.out", kCount - 1);
  // The last one confirmed: the broker queued it for every subscription.
  absl::StatusOr<PublishResult> last =
      publisher->PublishConfirmed("fan.out", Payload(absl::StrCat(kCount - 1)));
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(last->delivered, static_cast<uint32_t>(kSubscribers));
  for (int s = 0; s < kSubscribers; ++s) {
    ASSERT_TRUE(logs[s]->WaitForMessages(kCount, kTimeout))
        << "subscriber " << s << ": " << logs[s]->message_count();
  }
  // Still exactly kCount each after a round trip through the broker: no
  // message came twice.
  for (std::unique_ptr<Client>& subscriber : subscribers) {
    ASSERT_THAT(subscriber->Ping(), IsOk());
  }
  for (int s = 0; s < kSubscribers; ++s) {
    EXPECT_EQ(SequencesBySender(*logs[s])[publisher->connection_id()],
              Iota(kCount))
        << "subscriber " << s;
    EXPECT_EQ(logs[s]->message_count(), static_cast<size_t>(kCount));
  }
}

TEST_P(PubSubTest, TwoMatchingSubscriptionsOnOneConnectionGetOneCopyEach) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  MessageLog star;
  MessageLog tail;
  MessageLog other;
  absl::StatusOr<Subscription> star_subscription =
      subscriber->Subscribe("dup.*", star.OnMessage());
  ASSERT_THAT(star_subscription, IsOk());
  absl::StatusOr<Subscription> tail_subscription =
      subscriber->Subscribe("dup.>", tail.OnMessage());
  ASSERT_THAT(tail_subscription, IsOk());
  absl::StatusOr<Subscription> other_subscription =
      subscriber->Subscribe("dup.x.y", other.OnMessage());
  ASSERT_THAT(other_subscription, IsOk());

  absl::StatusOr<PublishResult> first =
      publisher->PublishConfirmed("dup.a", Payload("one"));
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->delivered, 2u);
  absl::StatusOr<PublishResult> second =
      publisher->PublishConfirmed("dup.x.y", Payload("two"));
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->delivered, 2u);  // dup.> and dup.x.y

  ASSERT_TRUE(star.WaitForMessages(1, kTimeout));
  ASSERT_TRUE(tail.WaitForMessages(2, kTimeout));
  ASSERT_TRUE(other.WaitForMessages(1, kTimeout));
  ASSERT_THAT(subscriber->Ping(), IsOk());
  EXPECT_THAT(star.Payloads(), ElementsAre("one"));
  EXPECT_THAT(tail.Payloads(), ElementsAre("one", "two"));
  EXPECT_THAT(other.Payloads(), ElementsAre("two"));
}

TEST_P(PubSubTest, APublisherReceivesWhatItPublishesOnItsOwnSubscription) {
  std::unique_ptr<Client> client = ConnectOrDie(broker_, "both");
  MessageLog log;
  absl::StatusOr<Subscription> subscription =
      client->Subscribe("self.*", log.OnMessage());
  ASSERT_THAT(subscription, IsOk());
  absl::StatusOr<PublishResult> result =
      client->PublishConfirmed("self.echo", Payload("to myself"));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->delivered, 1u);
  ASSERT_TRUE(log.WaitForMessages(1, kTimeout));
  std::vector<Message> messages = log.Messages();
  EXPECT_EQ(messages[0].payload, "to myself");
  EXPECT_EQ(messages[0].sender, client->connection_id());
}

TEST_P(PubSubTest, UnsubscribedCallbackIsNotCalledAgain) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  MessageLog log;
  absl::StatusOr<Subscription> subscription =
      subscriber->Subscribe("gone.soon", log.OnMessage());
  ASSERT_THAT(subscription, IsOk());
  const uint64_t id = subscription->id();
  ASSERT_THAT(publisher->PublishConfirmed("gone.soon", Payload("before")),
              IsOk());
  ASSERT_TRUE(log.WaitForMessages(1, kTimeout));
  ASSERT_THAT(subscription->Unsubscribe(), IsOk());
  EXPECT_FALSE(*subscription);
  absl::StatusOr<PublishResult> after =
      publisher->PublishConfirmed("gone.soon", Payload("after"));
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->delivered, 0u);
  ASSERT_THAT(subscriber->Ping(), IsOk());
  EXPECT_THAT(log.Payloads(), ElementsAre("before"));
  EXPECT_THAT(subscriber->Unsubscribe(id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(subscriber->GetSubscriptionStats(id),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(subscription->Unsubscribe(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_P(PubSubTest, SubscriptionStatsShowTheLimitsInForceAndCounts) {
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  MessageLog defaults_log;
  MessageLog capped_log;
  absl::StatusOr<Subscription> defaults =
      subscriber->Subscribe("stats.a", defaults_log.OnMessage());
  ASSERT_THAT(defaults, IsOk());
  // Over the broker's maximum of 65536 messages: lowered, not refused.
  absl::StatusOr<Subscription> capped = subscriber->Subscribe(
      "stats.>", capped_log.OnMessage(),
      capped_log.Options(1u << 20, OverflowPolicy::kDropNewest));
  ASSERT_THAT(capped, IsOk());
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(publisher->Publish("stats.a", Payload("m")), IsOk());
  }
  ASSERT_TRUE(defaults_log.WaitForMessages(3, kTimeout));
  ASSERT_TRUE(capped_log.WaitForMessages(3, kTimeout));

  absl::StatusOr<SubscriptionStats> a =
      subscriber->GetSubscriptionStats(defaults->id());
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->pattern, "stats.a");
  EXPECT_EQ(a->max_messages, 1024u);
  EXPECT_EQ(a->max_bytes, 8u << 20);
  EXPECT_EQ(a->policy, OverflowPolicy::kDropOldest);
  EXPECT_EQ(a->received, 3u);
  EXPECT_EQ(a->dropped, 0u);
  absl::StatusOr<SubscriptionStats> b = capped->stats();
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(b->max_messages, 65536u);
  EXPECT_EQ(b->policy, OverflowPolicy::kDropNewest);
  EXPECT_EQ(b->received, 3u);
}

INSTANTIATE_TEST_SUITE_P(AllTransports, PubSubTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
