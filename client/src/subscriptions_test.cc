// SPDX-License-Identifier: MIT
#include "client/src/subscriptions.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

TEST(SubscriptionsTest, IdsAreNeverReused) {
  Subscriptions subs;
  const uint64_t a = subs.NextId();
  subs.Add(a, "a", nullptr, nullptr);
  ASSERT_TRUE(subs.Remove(a));
  const uint64_t b = subs.NextId();
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
}

TEST(SubscriptionsTest, DeliversToTheRightCallbackAndCounts) {
  Subscriptions subs;
  int first = 0;
  int second = 0;
  subs.Add(
      1, "a.*", [&](const Message&) { ++first; }, nullptr);
  subs.Add(
      2, "a.>", [&](const Message&) { ++second; }, nullptr);
  Message message;
  EXPECT_TRUE(subs.Deliver(1, message));
  EXPECT_TRUE(subs.Deliver(2, message));
  EXPECT_TRUE(subs.Deliver(2, message));
  EXPECT_FALSE(subs.Deliver(3, message));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 2);
  EXPECT_EQ(subs.Stats(2)->received, 2u);
  EXPECT_EQ(subs.Stats(2)->pattern, "a.>");
}

TEST(SubscriptionsTest, DropReportsRunOnDropAndCount) {
  Subscriptions subs;
  DropReport seen;
  subs.Add(7, "t", nullptr, [&](const DropReport& r) { seen = r; });
  subs.SetLimits(7, 10, 1000, OverflowPolicy::kDropNewest);
  EXPECT_TRUE(subs.ReportDrop({7, 3, 3, "queue full"}));
  EXPECT_TRUE(subs.ReportDrop({7, 2, 5, "queue full"}));
  EXPECT_EQ(seen.total, 5u);
  std::optional<SubscriptionStats> stats = subs.Stats(7);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->dropped, 5u);
  EXPECT_EQ(stats->max_messages, 10u);
  EXPECT_EQ(stats->policy, OverflowPolicy::kDropNewest);
  // Without on_drop, drops still count.
  subs.Add(8, "u", nullptr, nullptr);
  EXPECT_TRUE(subs.ReportDrop({8, 4, 4, ""}));
  EXPECT_EQ(subs.Stats(8)->dropped, 4u);
}

TEST(SubscriptionsTest, RemovedSubscriptionsGetNothing) {
  Subscriptions subs;
  int calls = 0;
  subs.Add(
      1, "a", [&](const Message&) { ++calls; }, nullptr);
  EXPECT_TRUE(subs.Remove(1));
  EXPECT_FALSE(subs.Remove(1));
  EXPECT_FALSE(subs.Deliver(1, Message()));
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(subs.Stats(1).has_value());
}

TEST(SubscriptionsTest, RemoveWaitsForARunningCallback) {
  Subscriptions subs;
  absl::Notification entered;
  std::atomic<bool> finished{false};
  subs.Add(
      1, "a",
      [&](const Message&) {
        entered.Notify();
        absl::SleepFor(absl::Milliseconds(50));
        finished = true;
      },
      nullptr);
  std::thread dispatch([&] { subs.Deliver(1, Message()); });
  entered.WaitForNotification();
  EXPECT_TRUE(subs.Remove(1));
  EXPECT_TRUE(finished.load());  // Remove returned only after the callback
  dispatch.join();
}

TEST(SubscriptionsTest, RemoveFromInsideItsOwnCallbackDoesNotWait) {
  Subscriptions subs;
  bool removed = false;
  subs.Add(
      1, "a", [&](const Message&) { removed = subs.Remove(1); }, nullptr);
  EXPECT_TRUE(subs.Deliver(1, Message()));
  EXPECT_TRUE(removed);
  EXPECT_FALSE(subs.Deliver(1, Message()));
}

TEST(SubscriptionsTest, RunAsCallbackRunsOnlyForALiveSubscription) {
  Subscriptions subs;
  subs.Add(1, "a", nullptr, nullptr);
  int runs = 0;
  EXPECT_TRUE(subs.RunAsCallback(1, [&] { ++runs; }));
  EXPECT_FALSE(subs.RunAsCallback(2, [&] { ++runs; }));
  ASSERT_TRUE(subs.Remove(1));
  EXPECT_FALSE(subs.RunAsCallback(1, [&] { ++runs; }));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(subs.Stats(2), std::nullopt);
}

TEST(SubscriptionsTest, RemoveWaitsForWorkRunAsACallback) {
  Subscriptions subs;
  subs.Add(1, "a", nullptr, nullptr);
  absl::Notification entered;
  std::atomic<bool> finished{false};
  std::thread dispatch([&] {
    subs.RunAsCallback(1, [&] {
      entered.Notify();
      absl::SleepFor(absl::Milliseconds(50));
      finished = true;
    });
  });
  entered.WaitForNotification();
  EXPECT_TRUE(subs.Remove(1));
  EXPECT_TRUE(finished.load());  // Remove returned only after the work
  dispatch.join();
}

TEST(SubscriptionsTest, DeliverEachRunsTheCallbackPerMessageInOrder) {
  Subscriptions subs;
  std::vector<std::string> seen;
  subs.Add(
      1, "a.>", [&](const Message& m) { seen.push_back(m.topic); }, nullptr);
  std::vector<Message> messages(3);
  messages[0].topic = "a.x";
  messages[1].topic = "a.y";
  messages[2].topic = "a.z";
  size_t next = 0;
  EXPECT_TRUE(subs.DeliverEach(1, [&]() -> const Message* {
    return next < messages.size() ? &messages[next++] : nullptr;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"a.x", "a.y", "a.z"}));
  EXPECT_EQ(subs.Stats(1)->received, 3u);
  bool asked = false;
  EXPECT_FALSE(subs.DeliverEach(2, [&]() -> const Message* {
    asked = true;
    return nullptr;
  }));
  EXPECT_FALSE(asked);  // an unknown subscription is never asked for messages
}

TEST(SubscriptionsTest, DeliverEachStopsWhenItsCallbackUnsubscribes) {
  Subscriptions subs;
  int calls = 0;
  subs.Add(
      1, "a",
      [&](const Message&) {
        if (++calls == 2) subs.Remove(1);
      },
      nullptr);
  Message message;
  int asked = 0;
  EXPECT_TRUE(subs.DeliverEach(1, [&]() -> const Message* {
    return ++asked <= 5 ? &message : nullptr;
  }));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(asked, 2);  // the rest were never read
}

TEST(SubscriptionsTest, DeliverEachStopsWhenRemovedFromAnotherThread) {
  Subscriptions subs;
  absl::Notification first;
  std::atomic<int> calls{0};
  subs.Add(
      1, "a",
      [&](const Message&) {
        if (calls.fetch_add(1) == 0) {
          first.Notify();
          absl::SleepFor(absl::Milliseconds(50));
        }
      },
      nullptr);
  Message message;
  std::thread dispatch([&] {
    subs.DeliverEach(1, [&]() -> const Message* { return &message; });
  });
  first.WaitForNotification();
  EXPECT_TRUE(subs.Remove(1));
  // Remove() waited for the running callback, and no other one started.
  EXPECT_EQ(calls.load(), 1);
  dispatch.join();
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace switchboard::client
