// SPDX-License-Identifier: MIT
#include "daemon/core/subscriptions.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

const SessionId kOne(1);
const SessionId kTwo(2);

v1::Subscribe Request(
    uint64_t id, absl::string_view pattern, uint32_t max_messages = 0,
    uint64_t max_bytes = 0,
    v1::OverflowPolicy policy = v1::OVERFLOW_POLICY_UNSPECIFIED) {
  v1::Subscribe request;
  request.set_subscription_id(id);
  request.set_pattern(std::string(pattern));
  request.set_max_messages(max_messages);
  request.set_max_bytes(max_bytes);
  request.set_policy(policy);
  return request;
}

SubscriptionLimits Limits() {
  SubscriptionLimits limits;
  limits.default_messages = 10;
  limits.max_messages = 100;
  limits.default_bytes = 1000;
  limits.max_bytes = 5000;
  limits.max_per_session = 3;
  return limits;
}

std::vector<SubscriptionKey> MatchKeys(SubscriptionTable& table,
                                       absl::string_view topic) {
  std::vector<Subscription*> matches;
  table.Match(topic, &matches);
  std::vector<SubscriptionKey> keys;
  for (const Subscription* s : matches) keys.push_back(s->key);
  std::sort(keys.begin(), keys.end(),
            [](const SubscriptionKey& a, const SubscriptionKey& b) {
              return a.session != b.session ? a.session < b.session
                                            : a.id < b.id;
            });
  return keys;
}

TEST(SubscriptionTableTest, FirstGivesTheLowestKeysInOrder) {
  SubscriptionTable table(Limits());
  for (const SessionId session : {kTwo, kOne}) {
    for (uint64_t id : {3, 1, 2}) {
      ASSERT_TRUE(table.Add(session, Request(id, "a")).ok());
    }
  }
  std::vector<std::pair<uint64_t, uint64_t>> first;
  for (const Subscription* s : table.First(4)) {
    first.emplace_back(s->key.session.value(), s->key.id);
  }
  EXPECT_EQ(first, (std::vector<std::pair<uint64_t, uint64_t>>{
                       {1, 1}, {1, 2}, {1, 3}, {2, 1}}));
  EXPECT_EQ(table.First(10).size(), 6u);
  EXPECT_EQ(table.All().size(), 6u);
  EXPECT_TRUE(table.First(0).empty());
}

TEST(SubscriptionTableTest, ZeroLimitsTakeTheDefaultsAndLargeOnesTheMaxima) {
  SubscriptionTable table(Limits());
  absl::StatusOr<const Subscription*> added = table.Add(kOne, Request(1, "a"));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ((*added)->max_messages, 10u);
  EXPECT_EQ((*added)->max_bytes, 1000u);
  EXPECT_EQ((*added)->policy, v1::OVERFLOW_POLICY_DROP_OLDEST);

  added = table.Add(
      kOne, Request(2, "a", 1000000, 1 << 30, v1::OVERFLOW_POLICY_DISCONNECT));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ((*added)->max_messages, 100u);
  EXPECT_EQ((*added)->max_bytes, 5000u);
  EXPECT_EQ((*added)->policy, v1::OVERFLOW_POLICY_DISCONNECT);

  added =
      table.Add(kOne, Request(3, "a", 7, 77, v1::OVERFLOW_POLICY_DROP_NEWEST));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ((*added)->max_messages, 7u);
  EXPECT_EQ((*added)->max_bytes, 77u);
  EXPECT_EQ((*added)->pattern, "a");
}

TEST(SubscriptionTableTest, BadRequestsAreRefused) {
  SubscriptionTable table(Limits());
  ASSERT_TRUE(table.Add(kOne, Request(1, "a.>")).ok());
  EXPECT_EQ(table.Add(kOne, Request(0, "a")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table.Add(kOne, Request(1, "b")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(table.Add(kOne, Request(2, "a.>.b")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      table.Add(kOne, Request(2, "a", 0, 0, static_cast<v1::OverflowPolicy>(9)))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  // Ids are per session.
  EXPECT_TRUE(table.Add(kTwo, Request(1, "a")).ok());
  EXPECT_EQ(table.size(), 2u);
}

TEST(SubscriptionTableTest, EachSessionHoldsAtMostTheLimit) {
  SubscriptionTable table(Limits());
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(table.Add(kOne, Request(id, "a")).ok());
  }
  EXPECT_EQ(table.Add(kOne, Request(4, "a")).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(table.Add(kTwo, Request(4, "a")).ok());
  ASSERT_TRUE(table.Remove(kOne, 2).ok());
  EXPECT_TRUE(table.Add(kOne, Request(4, "a")).ok());
}

TEST(SubscriptionTableTest, RemoveAndForgetSessionStopMatching) {
  SubscriptionTable table(Limits());
  ASSERT_TRUE(table.Add(kOne, Request(1, "a.*")).ok());
  ASSERT_TRUE(table.Add(kOne, Request(2, ">")).ok());
  ASSERT_TRUE(table.Add(kTwo, Request(1, "a.b")).ok());
  EXPECT_EQ(MatchKeys(table, "a.b"),
            (std::vector<SubscriptionKey>{{kOne, 1}, {kOne, 2}, {kTwo, 1}}));

  EXPECT_TRUE(table.Remove(kOne, 1).ok());
  EXPECT_EQ(table.Remove(kOne, 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(table.Remove(kTwo, 2).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(MatchKeys(table, "a.b"),
            (std::vector<SubscriptionKey>{{kOne, 2}, {kTwo, 1}}));

  table.ForgetSession(kOne);
  table.ForgetSession(kOne);  // idempotent
  EXPECT_EQ(MatchKeys(table, "a.b"), (std::vector<SubscriptionKey>{{kTwo, 1}}));
  EXPECT_EQ(table.CountFor(kOne), 0u);
  EXPECT_EQ(table.size(), 1u);
  ASSERT_EQ(table.All().size(), 1u);
  EXPECT_EQ(table.All()[0]->key, (SubscriptionKey{kTwo, 1}));
}

TEST(SubscriptionTableTest, DropsAreCountedWithTheirReasons) {
  Subscription subscription;
  subscription.RecordDrop(kDropQueueFull);
  subscription.RecordDrop(kDropNoFds);
  EXPECT_EQ(subscription.dropped, 2u);
  EXPECT_EQ(subscription.unreported, 2u);
  const std::string text = DropReasonText(subscription.unreported_reasons);
  EXPECT_NE(text.find("queue was full"), std::string::npos) << text;
  EXPECT_NE(text.find("takes none"), std::string::npos) << text;
  EXPECT_EQ(PolicyName(v1::OVERFLOW_POLICY_DISCONNECT), "disconnect");
}

}  // namespace
}  // namespace switchboard::core
