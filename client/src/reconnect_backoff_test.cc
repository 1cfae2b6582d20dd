// SPDX-License-Identifier: MIT
#include "client/src/reconnect_backoff.h"

#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

ReconnectOptions Options(absl::Duration first, absl::Duration max,
                         absl::Duration give_up = absl::InfiniteDuration()) {
  ReconnectOptions options;
  options.first_delay = first;
  options.max_delay = max;
  options.give_up_after = give_up;
  return options;
}

TEST(ReconnectBackoffTest, DoublesUpToTheCapWithoutJitterAtZero) {
  ReconnectBackoff backoff(
      Options(absl::Milliseconds(10), absl::Milliseconds(50)),
      [] { return 0.0; });
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  backoff.Start(t0);
  EXPECT_EQ(backoff.Failed(t0), t0 + absl::Milliseconds(10));
  EXPECT_EQ(backoff.Failed(t0), t0 + absl::Milliseconds(20));
  EXPECT_EQ(backoff.Failed(t0), t0 + absl::Milliseconds(40));
  EXPECT_EQ(backoff.Failed(t0), t0 + absl::Milliseconds(50));
  EXPECT_EQ(backoff.Failed(t0), t0 + absl::Milliseconds(50));
  EXPECT_EQ(backoff.attempts(), 5);
}

TEST(ReconnectBackoffTest, JitterTakesOffUpToHalf) {
  ReconnectBackoff backoff(
      Options(absl::Milliseconds(100), absl::Milliseconds(100)),
      [] { return 0.999999; });
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  backoff.Start(t0);
  const absl::Duration wait = backoff.Failed(t0) - t0;
  EXPECT_GT(wait, absl::Milliseconds(49));
  EXPECT_LE(wait, absl::Milliseconds(51));
}

TEST(ReconnectBackoffTest, DefaultRandomStaysWithinBounds) {
  ReconnectBackoff backoff(
      Options(absl::Milliseconds(100), absl::Milliseconds(100)));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  backoff.Start(t0);
  for (int i = 0; i < 1000; ++i) {
    const absl::Duration wait = backoff.Failed(t0) - t0;
    ASSERT_GE(wait, absl::Milliseconds(50));
    ASSERT_LE(wait, absl::Milliseconds(100));
  }
}

TEST(ReconnectBackoffTest, StartResetsTheDelay) {
  ReconnectBackoff backoff(Options(absl::Milliseconds(10), absl::Seconds(1)),
                           [] { return 0.0; });
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  backoff.Start(t0);
  backoff.Failed(t0);
  backoff.Failed(t0);
  backoff.Start(t0);
  EXPECT_EQ(backoff.attempts(), 0);
  EXPECT_EQ(backoff.Failed(t0), t0 + absl::Milliseconds(10));
}

TEST(ReconnectBackoffTest, GivesUpAfterTheLimitWithALastAttemptAtIt) {
  ReconnectBackoff backoff(
      Options(absl::Milliseconds(400), absl::Seconds(1), absl::Seconds(1)),
      [] { return 0.0; });
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  backoff.Start(t0);
  EXPECT_EQ(backoff.Failed(t0), t0 + absl::Milliseconds(400));
  // 800 ms would pass the limit: the next attempt is made at the limit.
  EXPECT_EQ(backoff.Failed(t0 + absl::Milliseconds(400)),
            t0 + absl::Seconds(1));
  EXPECT_EQ(backoff.Failed(t0 + absl::Seconds(1)), absl::InfiniteFuture());
}

}  // namespace
}  // namespace switchboard::client
