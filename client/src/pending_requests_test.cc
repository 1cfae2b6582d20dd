// SPDX-License-Identifier: MIT
#include "client/src/pending_requests.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

const absl::Time kStart = absl::FromUnixSeconds(1000);

PendingRequest AsyncCall(absl::Time deadline) {
  PendingRequest request;
  request.callback = [](absl::StatusOr<Payload>) {};
  request.deadline = deadline;
  request.is_call = true;
  return request;
}

PendingRequest SyncCall() {
  PendingRequest request;
  request.waiter = std::make_shared<Waiter>();
  request.is_call = true;
  return request;
}

std::vector<uint64_t> Ids(
    const std::vector<std::pair<uint64_t, PendingRequest>>& taken) {
  std::vector<uint64_t> ids;
  for (const auto& [id, request] : taken) ids.push_back(id);
  return ids;
}

TEST(PendingRequestsTest, GivesFreshIdsAndFindsEachRequest) {
  PendingRequests table;
  const uint64_t a = table.Add(SyncCall());
  const uint64_t b = table.Add(AsyncCall(kStart));
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  ASSERT_NE(table.Find(a), nullptr);
  EXPECT_NE(table.Find(a)->waiter, nullptr);
  ASSERT_NE(table.Find(b), nullptr);
  EXPECT_TRUE(table.Find(b)->callback);
  EXPECT_EQ(table.Find(b + 1), nullptr);
  EXPECT_EQ(table.size(), 2u);
  // Ids are never reused, not even once the table is empty.
  ASSERT_TRUE(table.Take(a).has_value());
  ASSERT_TRUE(table.Take(b).has_value());
  EXPECT_TRUE(table.empty());
  const uint64_t c = table.Add(SyncCall());
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
}

TEST(PendingRequestsTest, AReplyEndsARequestOnce) {
  PendingRequests table;
  const uint64_t id = table.Add(AsyncCall(kStart + absl::Seconds(1)));
  std::optional<PendingRequest> taken = table.Take(id);
  ASSERT_TRUE(taken.has_value());
  EXPECT_TRUE(taken->callback);
  // A second reply, the deadline and the end of the connection find nothing.
  EXPECT_FALSE(table.Take(id).has_value());
  std::vector<std::pair<uint64_t, PendingRequest>> expired;
  table.TakeExpired(kStart + absl::Hours(1), expired);
  EXPECT_THAT(expired, IsEmpty());
  EXPECT_THAT(table.TakeAll(), IsEmpty());
  EXPECT_EQ(table.next_deadline(), absl::InfiniteFuture());
}

TEST(PendingRequestsTest, DeadlinesTakeAsyncCallsEarliestFirstAndOnce) {
  PendingRequests table;
  const uint64_t late = table.Add(AsyncCall(kStart + absl::Seconds(3)));
  const uint64_t first = table.Add(AsyncCall(kStart + absl::Seconds(1)));
  const uint64_t second = table.Add(AsyncCall(kStart + absl::Seconds(2)));
  const uint64_t sync = table.Add(SyncCall());  // no deadline of the table's
  EXPECT_EQ(table.next_deadline(), kStart + absl::Seconds(1));

  std::vector<std::pair<uint64_t, PendingRequest>> expired;
  table.TakeExpired(kStart, expired);
  EXPECT_THAT(expired, IsEmpty());
  table.TakeExpired(kStart + absl::Seconds(2), expired);
  EXPECT_THAT(Ids(expired), ElementsAre(first, second));
  EXPECT_EQ(table.next_deadline(), kStart + absl::Seconds(3));

  // Their replies, arriving late, and a later expiry find nothing.
  EXPECT_FALSE(table.Take(first).has_value());
  EXPECT_FALSE(table.Take(second).has_value());
  expired.clear();
  table.TakeExpired(kStart + absl::Hours(24), expired);
  EXPECT_THAT(Ids(expired), ElementsAre(late));
  EXPECT_THAT(Ids(table.TakeAll()), ElementsAre(sync));
}

TEST(PendingRequestsTest, ACallerThatGaveUpIsNotEndedAgain) {
  PendingRequests table;
  const uint64_t async = table.Add(AsyncCall(kStart));
  const uint64_t sync = table.Add(SyncCall());
  // Both give up (a synchronous caller's own deadline; a cancelled call).
  ASSERT_TRUE(table.Take(sync).has_value());
  ASSERT_TRUE(table.Take(async).has_value());
  std::vector<std::pair<uint64_t, PendingRequest>> expired;
  table.TakeExpired(kStart + absl::Hours(1), expired);
  EXPECT_THAT(expired, IsEmpty());
  EXPECT_THAT(table.TakeAll(), IsEmpty());
  EXPECT_EQ(table.Find(sync), nullptr);
  EXPECT_EQ(table.Find(async), nullptr);
}

TEST(PendingRequestsTest, ALostConnectionEndsEveryRequestOnce) {
  PendingRequests table;
  const uint64_t a = table.Add(AsyncCall(kStart + absl::Seconds(1)));
  const uint64_t b = table.Add(SyncCall());
  PendingRequest stream;
  stream.is_call = true;
  const uint64_t c = table.Add(std::move(stream));
  EXPECT_THAT(Ids(table.TakeAll()), UnorderedElementsAre(a, b, c));
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.next_deadline(), absl::InfiniteFuture());
  EXPECT_FALSE(table.Take(a).has_value());
  std::vector<std::pair<uint64_t, PendingRequest>> expired;
  table.TakeExpired(kStart + absl::Hours(1), expired);
  EXPECT_THAT(expired, IsEmpty());
  EXPECT_THAT(table.TakeAll(), IsEmpty());
}

TEST(PendingRequestsTest, ARestoredCallKeepsItsIdAndDeadline) {
  PendingRequests table;
  const uint64_t id = table.Add(AsyncCall(kStart + absl::Seconds(5)));
  std::optional<PendingRequest> taken = table.Take(id);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(table.next_deadline(), absl::InfiniteFuture());
  table.Restore(id, *std::move(taken));
  ASSERT_NE(table.Find(id), nullptr);
  EXPECT_EQ(table.next_deadline(), kStart + absl::Seconds(5));
  std::vector<std::pair<uint64_t, PendingRequest>> expired;
  table.TakeExpired(kStart + absl::Seconds(5), expired);
  EXPECT_THAT(Ids(expired), ElementsAre(id));
  EXPECT_TRUE(table.empty());
  // A fresh id is still fresh after a restore.
  EXPECT_NE(table.Add(SyncCall()), id);
}

// Many requests, ended by replies, deadlines and callers giving up in a
// shuffled order, then by the connection's end: each is handed out exactly
// once, and a deadline hands out only async calls that are due.
TEST(PendingRequestsTest, EveryRequestEndsExactlyOnceWhateverTheOrder) {
  std::mt19937 random(13);
  for (int round = 0; round < 20; ++round) {
    PendingRequests table;
    std::map<uint64_t, int> ended;
    std::map<uint64_t, absl::Time> deadline;  // async calls only
    std::vector<uint64_t> ids;
    for (int i = 0; i < 64; ++i) {
      uint64_t id;
      if (random() % 2 == 0) {
        const absl::Time due = kStart + absl::Milliseconds(random() % 1000);
        id = table.Add(AsyncCall(due));
        deadline[id] = due;
      } else {
        id = table.Add(SyncCall());
      }
      ended[id] = 0;
      ids.push_back(id);
    }
    absl::Time now = kStart;
    for (int step = 0; step < 100; ++step) {
      const uint64_t id = ids[random() % ids.size()];
      switch (random() % 3) {
        case 0:  // a reply, or a caller giving up: both take by id
          if (table.Take(id).has_value()) ++ended[id];
          break;
        case 1: {  // time passes
          now += absl::Milliseconds(random() % 50);
          std::vector<std::pair<uint64_t, PendingRequest>> expired;
          table.TakeExpired(now, expired);
          absl::Time previous = absl::InfinitePast();
          for (const auto& [expired_id, request] : expired) {
            ASSERT_TRUE(deadline.contains(expired_id));
            EXPECT_LE(deadline[expired_id], now);
            EXPECT_LE(previous, deadline[expired_id]);
            previous = deadline[expired_id];
            ++ended[expired_id];
          }
          break;
        }
        default:  // a late duplicate reply to something that may be gone
          if (ended[id] > 0) {
            EXPECT_FALSE(table.Take(id).has_value());
          }
          break;
      }
    }
    for (const auto& [id, request] : table.TakeAll()) ++ended[id];
    for (const auto& [id, count] : ended) {
      EXPECT_EQ(count, 1) << "request " << id << " in round " << round;
    }
  }
}

}  // namespace
}  // namespace switchboard::client
