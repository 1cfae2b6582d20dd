// SPDX-License-Identifier: MIT
#include "client/src/stream_credit.h"

#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

TEST(CreditWindowTest, GrantsWhatWasTakenOnceHalfTheWindowIsUsed) {
  CreditWindow credit(8);
  EXPECT_EQ(credit.outstanding(), 8u);
  EXPECT_EQ(credit.Take(), 0u);
  EXPECT_EQ(credit.Take(), 0u);
  EXPECT_EQ(credit.Take(), 0u);
  EXPECT_EQ(credit.outstanding(), 5u);
  EXPECT_EQ(credit.Take(), 4u);
  EXPECT_EQ(credit.outstanding(), 8u);
}

TEST(CreditWindowTest, NeverMoreThanTheWindowOutstanding) {
  for (uint32_t window : {1u, 2u, 3u, 16u, 1000u}) {
    CreditWindow credit(window);
    uint64_t granted = window;
    for (uint64_t taken = 1; taken <= 5000; ++taken) {
      granted += credit.Take();
      ASSERT_LE(granted - taken, window) << window;
      ASSERT_GE(granted, taken) << window;
    }
  }
}

TEST(CreditWindowTest, AWindowOfOneGrantsEveryMessage) {
  CreditWindow credit(1);
  EXPECT_EQ(credit.Take(), 1u);
  EXPECT_EQ(credit.Take(), 1u);
}

}  // namespace
}  // namespace switchboard::client
