// SPDX-License-Identifier: MIT
#include "daemon/server/log_limiter.h"

#include "gtest/gtest.h"

namespace switchboard::server {
namespace {

TEST(LogLimiterTest, LetsAFewLinesThroughPerIntervalAndCountsTheRest) {
  LogLimiter limiter(3, absl::Seconds(1));
  const absl::Time start = absl::UnixEpoch() + absl::Hours(1);
  uint64_t held_back = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.Allow(start + absl::Milliseconds(i), held_back));
    EXPECT_EQ(held_back, 0u);
  }
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(limiter.Allow(start + absl::Milliseconds(10 + i), held_back));
  }
  EXPECT_EQ(limiter.total_held_back(), 10u);
  // The next interval: the first line says how many were held back.
  ASSERT_TRUE(limiter.Allow(start + absl::Seconds(1), held_back));
  EXPECT_EQ(held_back, 10u);
  ASSERT_TRUE(limiter.Allow(start + absl::Seconds(1), held_back));
  EXPECT_EQ(held_back, 0u);
  EXPECT_EQ(limiter.total_held_back(), 10u);
}

}  // namespace
}  // namespace switchboard::server
