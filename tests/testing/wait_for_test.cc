// SPDX-License-Identifier: MIT
#include "tests/testing/wait_for.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace switchboard::testing {
namespace {

TEST(WaitForTest, ReturnsTrueOnceTheConditionHolds) {
  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls == 3; }, absl::Seconds(10)));
  EXPECT_EQ(calls, 3);
}

TEST(WaitForTest, ChecksATrueConditionOnceWithoutWaiting) {
  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls > 0; }, absl::ZeroDuration()));
  EXPECT_EQ(calls, 1);
}

TEST(WaitForTest, ReturnsFalseAfterTheDeadline) {
  const absl::Time start = absl::Now();
  int calls = 0;
  EXPECT_FALSE(WaitFor([&] { return ++calls < 0; }, absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_GT(calls, 1);
}

}  // namespace
}  // namespace switchboard::testing
