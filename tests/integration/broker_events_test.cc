// SPDX-License-Identifier: MIT
//
// What the broker publishes about the bus on the reserved topics
// (docs/PROTOCOL.md 6.2): switchboard.connection.opened and .closed with
// the ids Client::connection_id() reports, and switchboard.name.NAME for
// every change of a name's owner (claim, replacement, release, promotion
// from the queue, loss on disconnect), decoded as switchboard.v1 messages.
// Nobody else may publish there. Every suite runs over both transports.
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/service.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
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

Service Named(const std::string& name) {
  Service service(name);
  service.AddMethod(
      "Ping", [](const CallInfo&, const Payload&) -> absl::StatusOr<Payload> {
        return Payload("pong");
      });
  return service;
}

ServeOptions Claim(NameClaim claim, bool allow_replacement = false) {
  ServeOptions options;
  options.claim = claim;
  options.allow_replacement = allow_replacement;
  return options;
}

// One owner change as the broker published it.
struct Change {
  uint64_t old_owner;
  uint64_t new_owner;
  friend bool operator==(const Change& a, const Change& b) {
    return a.old_owner == b.old_owner && a.new_owner == b.new_owner;
  }
  friend void PrintTo(const Change& c, std::ostream* out) {
    *out << ":" << c.old_owner << " -> :" << c.new_owner;
  }
};

class BrokerEventsTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    watcher_ = ConnectOrDie(broker_, "watcher");
    absl::StatusOr<Subscription> events = watcher_->Subscribe(
        "switchboard.>", log_.OnMessage(), log_.Options(65536));
    ASSERT_THAT(events, IsOk());
    events_ = *std::move(events);
  }

  // The ConnectionEvent on `topic` for connection `id`, once it came.
  std::optional<v1::ConnectionEvent> WaitForConnectionEvent(
      absl::string_view topic, uint64_t id) {
    std::optional<v1::ConnectionEvent> found;
    WaitFor(
        [&] {
          for (const Message& message : log_.Messages()) {
            if (message.topic != topic) continue;
            absl::StatusOr<v1::ConnectionEvent> event =
                message.As<v1::ConnectionEvent>();
            EXPECT_THAT(event, IsOk());
            if (event.ok() && event->connection_id() == id) {
              EXPECT_EQ(message.message_type, "switchboard.v1.ConnectionEvent");
              EXPECT_EQ(message.sender, 0u);
              found = *event;
              return true;
            }
          }
          return false;
        },
        kTimeout);
    return found;
  }

  // The owner changes published for `name` so far, in order.
  std::vector<Change> Changes(absl::string_view name) {
    std::vector<Change> changes;
    const std::string topic = absl::StrCat("switchboard.name.", name);
    for (const Message& message : log_.Messages()) {
      if (message.topic != topic) continue;
      EXPECT_EQ(message.message_type, "switchboard.v1.NameOwnerChanged");
      EXPECT_EQ(message.sender, 0u);
      absl::StatusOr<v1::NameOwnerChanged> change =
          message.As<v1::NameOwnerChanged>();
      EXPECT_THAT(change, IsOk());
      if (!change.ok()) continue;
      EXPECT_EQ(change->name(), name);
      changes.push_back({change->old_owner(), change->new_owner()});
    }
    return changes;
  }

  bool WaitForChanges(absl::string_view name, size_t count) {
    return WaitFor([&] { return Changes(name).size() >= count; }, kTimeout);
  }

  BrokerProcess broker_{GetParam()};
  MessageLog log_;
  std::unique_ptr<Client> watcher_;
  Subscription events_;  // watcher_'s, to switchboard.>
};

TEST_P(BrokerEventsTest, ConnectionsOpenAndCloseWithTheirIds) {
  std::unique_ptr<Client> visitor = ConnectOrDie(broker_, "visitor");
  const uint64_t id = visitor->connection_id();
  std::optional<v1::ConnectionEvent> opened =
      WaitForConnectionEvent("switchboard.connection.opened", id);
  ASSERT_TRUE(opened.has_value()) << "no connection.opened for :" << id;
  EXPECT_EQ(opened->client_name(), "visitor");
  EXPECT_EQ(opened->uid(), static_cast<uint32_t>(::getuid()));
  if (GetParam() == Transport::kUnix) {
    EXPECT_EQ(opened->transport(), "unix");
    EXPECT_EQ(opened->pid(), static_cast<uint32_t>(::getpid()));
  } else {
    EXPECT_EQ(opened->transport(), "tcp");
    EXPECT_EQ(opened->pid(), 0u);
  }
  EXPECT_TRUE(opened->reason().empty());

  visitor.reset();
  std::optional<v1::ConnectionEvent> closed =
      WaitForConnectionEvent("switchboard.connection.closed", id);
  ASSERT_TRUE(closed.has_value()) << "no connection.closed for :" << id;
  EXPECT_EQ(closed->client_name(), "visitor");
  EXPECT_FALSE(closed->reason().empty());

  // Opened came before closed, and each exactly once.
  int opened_at = -1;
  int closed_at = -1;
  int count = 0;
  std::vector<Message> messages = log_.Messages();
  for (size_t i = 0; i < messages.size(); ++i) {
    absl::StatusOr<v1::ConnectionEvent> event =
        messages[i].As<v1::ConnectionEvent>();
    if (!absl::StartsWith(messages[i].topic, "switchboard.connection.") ||
        !event.ok() || event->connection_id() != id) {
      continue;
    }
    ++count;
    if (messages[i].topic == "switchboard.connection.opened") opened_at = i;
    if (messages[i].topic == "switchboard.connection.closed") closed_at = i;
  }
  EXPECT_EQ(count, 2);
  EXPECT_LT(opened_at, closed_at);
}

// Patterns match the reserved topics like any others: a connection event
// reaches exactly the subscriptions whose pattern matches its topic. The
// broker matches all subscriptions at once when it publishes, so once the
// matching ones have the event, GetStatus shows whether the others got it.
TEST_P(BrokerEventsTest, PatternsMatchReservedTopicsLikeAnyOther) {
  struct Case {
    const char* pattern;
    bool matches;  // "switchboard.connection.opened"
  };
  const Case cases[] = {
      {">", true},
      {"switchboard.>", true},
      {"switchboard.connection.*", true},
      {"switchboard.connection.opened", true},
      {"*.connection.opened", true},
      {"*.*.*", true},
      {"*.>", true},
      {"switchboard.*", false},
      {"switchboard", false},
      {"switchboard.connection", false},
      {"switchboard.connection.closed", false},
      {"*.*", false},
      {"switchboard.*.*.*", false},
  };
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  std::vector<std::unique_ptr<MessageLog>> logs;
  std::vector<Subscription> subscriptions;
  for (const Case& c : cases) {
    logs.push_back(std::make_unique<MessageLog>());
    absl::StatusOr<Subscription> subscription = subscriber->Subscribe(
        c.pattern, logs.back()->OnMessage(), logs.back()->Options(65536));
    ASSERT_THAT(subscription, IsOk()) << c.pattern;
    subscriptions.push_back(*std::move(subscription));
  }
  std::unique_ptr<Client> visitor = ConnectOrDie(broker_, "visitor");
  for (size_t i = 0; i < logs.size(); ++i) {
    if (!cases[i].matches) continue;
    SCOPED_TRACE(cases[i].pattern);
    ASSERT_TRUE(logs[i]->WaitForMessages(1, kTimeout));
    std::vector<Message> messages = logs[i]->Messages();
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_EQ(messages[0].topic, "switchboard.connection.opened");
    absl::StatusOr<v1::ConnectionEvent> event =
        messages[0].As<v1::ConnectionEvent>();
    ASSERT_THAT(event, IsOk());
    EXPECT_EQ(event->connection_id(), visitor->connection_id());
  }
  absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*subscriber);
  ASSERT_THAT(status, IsOk());
  for (size_t i = 0; i < logs.size(); ++i) {
    SCOPED_TRACE(cases[i].pattern);
    absl::StatusOr<v1::SubscriptionStatus> s = FindSubscription(
        *status, subscriber->connection_id(), subscriptions[i].id());
    ASSERT_THAT(s, IsOk());
    EXPECT_EQ(s->delivered() + s->dropped(), cases[i].matches ? 1u : 0u);
    if (!cases[i].matches) {
      EXPECT_EQ(logs[i]->message_count(), 0u);
    }
  }
}

TEST_P(BrokerEventsTest, NameOwnerChangesArePublishedInOrder) {
  std::unique_ptr<Client> a = ConnectOrDie(broker_, "a");
  std::unique_ptr<Client> b = ConnectOrDie(broker_, "b");
  const uint64_t ida = a->connection_id();
  const uint64_t idb = b->connection_id();
  const std::string name = "events.svc";

  // a's library learns of the loss from an EVENT on its dispatch thread;
  // it may serve the name again only after that.
  auto a_lost = std::make_shared<absl::Notification>();
  a->OnNameChange([a_lost, name](absl::string_view lost, bool owned) {
    if (lost == name && !owned && !a_lost->HasBeenNotified()) {
      a_lost->Notify();
    }
  });

  // Claimed, replaced, released.
  ASSERT_THAT(a->Serve(Named(name), Claim(NameClaim::kFailIfOwned, true)),
              IsOk());
  ASSERT_THAT(b->Serve(Named(name), Claim(NameClaim::kReplace)), IsOk());
  ASSERT_TRUE(a_lost->WaitForNotificationWithTimeout(kTimeout));
  a->OnNameChange(nullptr);
  ASSERT_THAT(b->Release(name), IsOk());
  // Claimed again; b queues (no change), then takes over when a releases.
  ASSERT_THAT(a->Serve(Named(name)), IsOk());
  ASSERT_THAT(b->Serve(Named(name), Claim(NameClaim::kQueue)), IsOk());
  ASSERT_THAT(a->Release(name), IsOk());
  EXPECT_THAT(a->Call(name, "Ping", Payload(), kTimeout), IsOk());
  // Lost when its owner disconnects.
  b.reset();

  // A change to another name, published after all of the above, marks the
  // end: whatever was published for `name` arrived before it.
  std::unique_ptr<Client> c = ConnectOrDie(broker_, "c");
  ASSERT_THAT(c->Serve(Named("events.sentinel")), IsOk());
  ASSERT_TRUE(WaitForChanges("events.sentinel", 1));
  EXPECT_THAT(Changes("events.sentinel"),
              ::testing::ElementsAre(Change{0, c->connection_id()}));

  EXPECT_THAT(Changes(name),
              ::testing::ElementsAre(Change{0, ida},    // claimed
                                     Change{ida, idb},  // replaced
                                     Change{idb, 0},    // released
                                     Change{0, ida},    // claimed again
                                     Change{ida, idb},  // promoted from queue
                                     Change{idb, 0}));  // owner disconnected
}

TEST_P(BrokerEventsTest, ASubscriptionToOneNameSeesOnlyThatName) {
  std::unique_ptr<Client> narrow = ConnectOrDie(broker_, "narrow");
  MessageLog narrow_log;
  absl::StatusOr<Subscription> subscription =
      narrow->Subscribe("switchboard.name.events.one", narrow_log.OnMessage());
  ASSERT_THAT(subscription, IsOk());
  std::unique_ptr<Client> owner = ConnectOrDie(broker_, "owner");
  ASSERT_THAT(owner->Serve(Named("events.two")), IsOk());
  ASSERT_THAT(owner->Serve(Named("events.one")), IsOk());
  ASSERT_TRUE(narrow_log.WaitForMessages(1, kTimeout));
  ASSERT_TRUE(WaitForChanges("events.one", 1));
  std::vector<Message> messages = narrow_log.Messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].topic, "switchboard.name.events.one");
  absl::StatusOr<v1::NameOwnerChanged> change =
      messages[0].As<v1::NameOwnerChanged>();
  ASSERT_THAT(change, IsOk());
  EXPECT_EQ(change->new_owner(), owner->connection_id());
}

TEST_P(BrokerEventsTest, NobodyElseMayPublishOnTheReservedTopics) {
  std::unique_ptr<Client> forger = ConnectOrDie(broker_, "forger");
  v1::ConnectionEvent fake;
  fake.set_connection_id(424242);
  EXPECT_THAT(forger->Publish("switchboard.connection.opened", fake),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(forger->PublishConfirmed("switchboard.name.x",
                                       Payload(fake.SerializeAsString())),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_TRUE(forger->connected());
  // The forger's own opened event came; nothing from it.
  ASSERT_TRUE(WaitForConnectionEvent("switchboard.connection.opened",
                                     forger->connection_id())
                  .has_value());
  ASSERT_THAT(watcher_->Ping(), IsOk());
  for (const Message& message : log_.Messages()) {
    EXPECT_EQ(message.sender, 0u) << message.topic;
    absl::StatusOr<v1::ConnectionEvent> event =
        message.As<v1::ConnectionEvent>();
    if (event.ok()) {
      EXPECT_NE(event->connection_id(), 424242u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTransports, BrokerEventsTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
