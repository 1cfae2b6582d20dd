// SPDX-License-Identifier: MIT
#include "daemon/server/output_accounts.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace switchboard::server {
namespace {

using ::switchboard::testing::IsOk;
using ::switchboard::testing::StatusIs;
using ::testing::HasSubstr;

OutputLimits Limits(size_t memory, size_t per_uid, size_t fds) {
  OutputLimits limits;
  limits.max_memory = memory;
  limits.max_memory_per_uid = per_uid;
  limits.max_fds_per_uid = fds;
  return limits;
}

TEST(OutputAccountsTest, ChargesFollowEachSessionsQueue) {
  OutputAccounts accounts(Limits(10000, 10000, 10));
  accounts.Recharge(1000, 0, 0, 300, 2);  // a session of uid 1000
  accounts.Recharge(1000, 0, 0, 200, 1);  // another
  accounts.Recharge(2000, 0, 0, 50, 0);
  EXPECT_EQ(accounts.Of(1000).memory, 500u);
  EXPECT_EQ(accounts.Of(1000).fds, 3u);
  EXPECT_EQ(accounts.memory(), 550u);
  EXPECT_EQ(accounts.fds(), 3u);
  accounts.Recharge(1000, 300, 2, 0, 0);  // the first one drained
  accounts.Recharge(2000, 50, 0, 0, 0);
  EXPECT_EQ(accounts.Of(1000).memory, 200u);
  EXPECT_EQ(accounts.Of(2000).memory, 0u);
  EXPECT_EQ(accounts.memory(), 200u);
  EXPECT_EQ(accounts.fds(), 1u);
}

TEST(OutputAccountsTest, RefusesAUidPastItsMemoryQuotaOnly) {
  OutputAccounts accounts(Limits(100000, 1000, 10));
  accounts.Recharge(1000, 0, 0, 900, 0);
  EXPECT_THAT(accounts.Check(1000, 100, 0), IsOk());
  EXPECT_THAT(accounts.Check(1000, 101, 0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--max-queued-bytes-per-uid")));
  EXPECT_THAT(accounts.Check(2000, 1000, 0), IsOk());
  EXPECT_EQ(accounts.Of(1000).refused_memory, 1u);
  EXPECT_EQ(accounts.Of(2000).refused_memory, 0u);
  EXPECT_EQ(accounts.refused(), 1u);
}

TEST(OutputAccountsTest, RefusesAUidPastItsDescriptorQuota) {
  OutputAccounts accounts(Limits(100000, 100000, 4));
  accounts.Recharge(1000, 0, 0, 10, 3);
  EXPECT_THAT(accounts.Check(1000, 10, 1), IsOk());
  EXPECT_THAT(accounts.Check(1000, 10, 2),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--max-fds-in-flight-per-uid")));
  EXPECT_THAT(accounts.Check(2000, 10, 4), IsOk());
  EXPECT_EQ(accounts.Of(1000).refused_fds, 1u);
}

TEST(OutputAccountsTest, NearTheCeilingTheHeaviestAreRefusedFirst) {
  // Mark at 750 of 1000.
  OutputAccounts accounts(Limits(1000, 1000, 10));
  accounts.Recharge(1000, 0, 0, 600, 0);  // heavy
  accounts.Recharge(2000, 0, 0, 100, 0);  // light
  // Below the mark everyone may.
  EXPECT_THAT(accounts.Check(1000, 50, 0), IsOk());
  // Past it, the heavy uid is refused and the light one and a newcomer
  // still may.
  EXPECT_THAT(accounts.Check(1000, 100, 0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("near its ceiling of 1000 (--max-memory)")));
  EXPECT_THAT(accounts.Check(2000, 100, 0), IsOk());
  EXPECT_THAT(accounts.Check(3000, 100, 0), IsOk());
  EXPECT_EQ(accounts.Of(1000).refused_ceiling, 1u);
  // At the ceiling nobody may.
  EXPECT_THAT(accounts.Check(2000, 301, 0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("its ceiling is 1000")));
  EXPECT_THAT(accounts.Check(3000, 301, 0),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(accounts.refused(), 3u);
}

TEST(OutputAccountsTest, OneUidAloneIsTheHeaviest) {
  OutputAccounts accounts(Limits(1000, 1000, 10));
  accounts.Recharge(1000, 0, 0, 700, 0);
  EXPECT_THAT(accounts.Check(1000, 51, 0),
              StatusIs(absl::StatusCode::kResourceExhausted));
  // Once it drained, it may again.
  accounts.Recharge(1000, 700, 0, 100, 0);
  EXPECT_THAT(accounts.Check(1000, 51, 0), IsOk());
}

TEST(OutputAccountsTest, UidsAreListedInOrderWithTheirRefusals) {
  OutputAccounts accounts(Limits(1000, 100, 10));
  accounts.Recharge(3000, 0, 0, 10, 0);
  accounts.Recharge(1000, 0, 0, 20, 0);
  EXPECT_THAT(accounts.Check(2000, 101, 0),
              StatusIs(absl::StatusCode::kResourceExhausted));
  const auto uids = accounts.Uids();
  ASSERT_EQ(uids.size(), 3u);
  EXPECT_EQ(uids[0].first, 1000u);
  EXPECT_EQ(uids[1].first, 2000u);
  EXPECT_EQ(uids[1].second.refused_memory, 1u);
  EXPECT_EQ(uids[2].first, 3000u);
  EXPECT_EQ(uids[2].second.memory, 10u);
}

TEST(OutputLimitsTest, DefaultsFollowTheMachine) {
  const OutputLimits big = OutputLimits::ForMachine(size_t{24} << 30);
  EXPECT_EQ(big.max_memory, size_t{6} << 30);
  EXPECT_EQ(big.max_memory_per_uid, size_t{1} << 30);
  const OutputLimits small = OutputLimits::ForMachine(size_t{512} << 20);
  EXPECT_EQ(small.max_memory, size_t{256} << 20);
  EXPECT_EQ(small.max_memory_per_uid, size_t{256} << 20);
}

}  // namespace
}  // namespace switchboard::server
