// SPDX-License-Identifier: MIT
#include "daemon/core/uid_accounts.h"

#include <string>
#include <vector>

#include "daemon/core/name_registry.h"
#include "daemon/core/pending_calls.h"
#include "daemon/core/subscriptions.h"
#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

// Names unique within the unity batch this file shares with others.
const SessionId kAccountsFirst(1);
const SessionId kAccountsSecond(2);
const SessionId kAccountsOther(3);
constexpr uint32_t kAccountsUid = 1000;
constexpr uint32_t kAccountsOtherUid = 1001;

UidLimits SmallLimits() {
  UidLimits limits;
  limits.max_names = 2;
  limits.max_subscriptions = 3;
  limits.max_pending_calls = 1;
  limits.max_schema_bytes = 100;
  return limits;
}

TEST(UidAccountsTest, ChargesOfAUidsSessionsAddUp) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsFirst, kAccountsUid);
  accounts.Bind(kAccountsSecond, kAccountsUid);
  accounts.Charge(kAccountsFirst, Quota::kNames, 1);
  accounts.Charge(kAccountsSecond, Quota::kNames, 1);
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kNames), 2u);
  const absl::Status refused = accounts.Check(kAccountsFirst, Quota::kNames, 1);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.message(),
            "uid 1000 holds 2 names (owned or queued for), its limit "
            "(--max-names-per-uid)");
}

TEST(UidAccountsTest, AnotherUidIsNotCharged) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsFirst, kAccountsUid);
  accounts.Bind(kAccountsOther, kAccountsOtherUid);
  accounts.Charge(kAccountsFirst, Quota::kPendingCalls, 1);
  EXPECT_EQ(accounts.Check(kAccountsFirst, Quota::kPendingCalls, 1).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(accounts.Check(kAccountsOther, Quota::kPendingCalls, 1).ok());
  EXPECT_EQ(accounts.UsageOf(kAccountsOtherUid).of(Quota::kPendingCalls), 0u);
}

TEST(UidAccountsTest, SchemaBytesAreCheckedByTheAmountAsked) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsFirst, kAccountsUid);
  accounts.Charge(kAccountsFirst, Quota::kSchemaBytes, 60);
  EXPECT_TRUE(accounts.Check(kAccountsFirst, Quota::kSchemaBytes, 40).ok());
  const absl::Status refused =
      accounts.Check(kAccountsFirst, Quota::kSchemaBytes, 41);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("--max-schema-bytes-per-uid"),
            std::string::npos);
}

TEST(UidAccountsTest, ARefundFreesRoomAgain) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsFirst, kAccountsUid);
  accounts.Charge(kAccountsFirst, Quota::kPendingCalls, 1);
  accounts.Refund(kAccountsFirst, Quota::kPendingCalls, 1);
  EXPECT_TRUE(accounts.Check(kAccountsFirst, Quota::kPendingCalls, 1).ok());
  // Never below zero, even for more than was charged.
  accounts.Refund(kAccountsFirst, Quota::kPendingCalls, 5);
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kPendingCalls), 0u);
}

TEST(UidAccountsTest, ForgettingASessionGivesBackItsShareOnly) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsFirst, kAccountsUid);
  accounts.Bind(kAccountsSecond, kAccountsUid);
  accounts.Charge(kAccountsFirst, Quota::kSubscriptions, 2);
  accounts.Charge(kAccountsSecond, Quota::kSubscriptions, 1);
  EXPECT_EQ(accounts.ForgetSession(kAccountsFirst).of(Quota::kSubscriptions),
            2u);
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kSubscriptions), 1u);
  accounts.ForgetSession(kAccountsSecond);
  EXPECT_TRUE(accounts.All().empty());
}

TEST(UidAccountsTest, AnUnboundSessionIsNeitherChargedNorRefused) {
  UidAccounts accounts(SmallLimits());
  accounts.Charge(kAccountsFirst, Quota::kNames, 10);
  EXPECT_TRUE(accounts.Check(kAccountsFirst, Quota::kNames, 10).ok());
  EXPECT_TRUE(accounts.All().empty());
}

TEST(UidAccountsTest, AllListsUidsInOrder) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsOther, kAccountsOtherUid);
  accounts.Bind(kAccountsFirst, kAccountsUid);
  accounts.Charge(kAccountsOther, Quota::kNames, 1);
  const std::vector<std::pair<uint32_t, Usage>> all = accounts.All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].first, kAccountsUid);
  EXPECT_EQ(all[1].first, kAccountsOtherUid);
  EXPECT_EQ(all[1].second.of(Quota::kNames), 1u);
}

// The tables charge and refund at the points where they change.

TEST(UidAccountsTest, PendingCallsChargeTheCallerUntilTheCallEnds) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsFirst, kAccountsUid);
  accounts.Bind(kAccountsOther, kAccountsOtherUid);
  PendingCalls calls(&accounts);
  const absl::Time deadline = absl::FromUnixSeconds(10);
  const RequestId replied =
      calls.Track(kAccountsFirst, RequestId(1), kAccountsOther, deadline);
  calls.Track(kAccountsFirst, RequestId(2), kAccountsOther, deadline);
  calls.Track(kAccountsFirst, RequestId(3), kAccountsOther,
              deadline + absl::Seconds(1));
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kPendingCalls), 3u);
  EXPECT_EQ(accounts.UsageOf(kAccountsOtherUid).of(Quota::kPendingCalls), 0u);
  ASSERT_TRUE(calls.TakeForReply(kAccountsOther, replied).has_value());
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kPendingCalls), 2u);
  EXPECT_EQ(calls.ExpireUntil(deadline).size(), 1u);
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kPendingCalls), 1u);
  EXPECT_EQ(calls.TakeAll().size(), 1u);
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kPendingCalls), 0u);
  calls.Track(kAccountsFirst, RequestId(4), kAccountsOther, deadline);
  EXPECT_EQ(calls.ForgetSession(kAccountsOther).size(), 1u);  // callee gone
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kPendingCalls), 0u);
}

TEST(UidAccountsTest, NamesChargeOwnersAndQueuedClaimants) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsFirst, kAccountsUid);
  accounts.Bind(kAccountsOther, kAccountsOtherUid);
  NameRegistry names(&accounts);
  std::vector<NameEvent> events;
  std::vector<NameOwnerChange> owners;
  ASSERT_TRUE(names
                  .Register(kAccountsOther, "a.b", v1::NAME_FLAG_FAIL_IF_OWNED,
                            false, &events, &owners)
                  .ok());
  ASSERT_TRUE(names
                  .Register(kAccountsFirst, "a.b", v1::NAME_FLAG_QUEUE, false,
                            &events, &owners)
                  .ok());
  // Asking again keeps the place and the charge.
  ASSERT_TRUE(names
                  .Register(kAccountsFirst, "a.b", v1::NAME_FLAG_QUEUE, false,
                            &events, &owners)
                  .ok());
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kNames), 1u);
  EXPECT_EQ(accounts.UsageOf(kAccountsOtherUid).of(Quota::kNames), 1u);
  names.ForgetSession(kAccountsOther, &events, &owners);  // first promoted
  EXPECT_EQ(accounts.UsageOf(kAccountsOtherUid).of(Quota::kNames), 0u);
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kNames), 1u);
  ASSERT_TRUE(names.Release(kAccountsFirst, "a.b", &events, &owners).ok());
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kNames), 0u);
}

TEST(UidAccountsTest, SubscriptionsChargeTheirSession) {
  UidAccounts accounts(SmallLimits());
  accounts.Bind(kAccountsFirst, kAccountsUid);
  SubscriptionTable table(SubscriptionLimits(), &accounts);
  for (uint64_t id : {1, 2, 3}) {
    v1::Subscribe request;
    request.set_subscription_id(id);
    request.set_pattern("a.>");
    ASSERT_TRUE(table.Add(kAccountsFirst, request).ok());
  }
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kSubscriptions), 3u);
  ASSERT_TRUE(table.Remove(kAccountsFirst, 2).ok());
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kSubscriptions), 2u);
  table.ForgetSession(kAccountsFirst);
  EXPECT_EQ(accounts.UsageOf(kAccountsUid).of(Quota::kSubscriptions), 0u);
}

}  // namespace
}  // namespace switchboard::core
