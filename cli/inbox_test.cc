// SPDX-License-Identifier: MIT
#include "inbox.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace switchboard::cli {
namespace {

bool Connected() { return true; }

TEST(InboxTest, ItemsComeOutInOrder) {
  Inbox<std::string> inbox;
  inbox.Push("a");
  inbox.Push("b");
  EXPECT_EQ(inbox.Take(absl::InfiniteFuture(), Connected).item, "a");
  EXPECT_EQ(inbox.Take(absl::InfiniteFuture(), Connected).item, "b");
}

TEST(InboxTest, WaitsForAnItemFromAnotherThread) {
  Inbox<int> inbox;
  std::thread pusher([&inbox] {
    absl::SleepFor(absl::Milliseconds(20));
    inbox.Push(7);
  });
  Inbox<int>::Next next =
      inbox.Take(absl::Now() + absl::Seconds(10), Connected);
  pusher.join();
  EXPECT_EQ(next.item, 7);
}

TEST(InboxTest, DeadlineWithoutItems) {
  Inbox<int> inbox;
  const absl::Time start = absl::Now();
  Inbox<int>::Next next = inbox.Take(start + absl::Milliseconds(30), Connected);
  EXPECT_FALSE(next.item.has_value());
  EXPECT_EQ(next.end, InboxEnd::kDeadline);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(30));
}

TEST(InboxTest, InterruptWinsOverQueuedItems) {
  Inbox<int> inbox;
  inbox.Push(1);
  inbox.Interrupt();
  EXPECT_EQ(inbox.Take(absl::InfiniteFuture(), Connected).end,
            InboxEnd::kInterrupted);
}

TEST(InboxTest, NoticesALostConnection) {
  Inbox<int> inbox;
  Inbox<int>::Next next =
      inbox.Take(absl::InfiniteFuture(), [] { return false; });
  EXPECT_EQ(next.end, InboxEnd::kDisconnected);
}

TEST(InboxTest, DropsWhenFullAndReportsWithTheNextItem) {
  Inbox<int> inbox(/*capacity=*/2);
  for (int i = 0; i < 5; ++i) inbox.Push(i);
  Inbox<int>::Next first = inbox.Take(absl::InfiniteFuture(), Connected);
  EXPECT_EQ(first.item, 0);
  EXPECT_EQ(first.dropped_before, 3u);
  Inbox<int>::Next second = inbox.Take(absl::InfiniteFuture(), Connected);
  EXPECT_EQ(second.item, 1);
  EXPECT_EQ(second.dropped_before, 0u);
}

}  // namespace
}  // namespace switchboard::cli
