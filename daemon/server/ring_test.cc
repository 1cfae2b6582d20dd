// SPDX-License-Identifier: MIT
#include "daemon/server/ring.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::server {
namespace {

std::vector<int> Contents(const Ring<std::unique_ptr<int>>& ring) {
  std::vector<int> values;
  for (size_t i = 0; i < ring.size(); ++i) values.push_back(*ring[i]);
  return values;
}

TEST(RingTest, KeepsFirstInFirstOutAcrossGrowthAndWrapAround) {
  Ring<std::unique_ptr<int>> ring;
  EXPECT_EQ(ring.capacity(), 0u);
  int next_in = 0;
  int next_out = 0;
  // Push three, pop two, many times: the ring wraps and grows.
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 3; ++i)
      ring.push_back(std::make_unique<int>(next_in++));
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(*ring.front(), next_out++);
      ring.pop_front();
    }
    ASSERT_EQ(*ring.back(), next_in - 1);
  }
  EXPECT_EQ(ring.size(), 1000u);
  EXPECT_EQ(ring.capacity(), 1024u);
  while (!ring.empty()) {
    ASSERT_EQ(*ring.front(), next_out++);
    ring.pop_front();
  }
  EXPECT_EQ(next_out, next_in);
  // Drained, it is back to its smallest allocation.
  EXPECT_EQ(ring.capacity(), Ring<int>::kMinCapacity);
}

TEST(RingTest, RemoveIfKeepsTheOrderOfTheRest) {
  Ring<std::unique_ptr<int>> ring;
  for (int i = 0; i < 10; ++i) ring.push_back(std::make_unique<int>(i));
  ring.pop_front();
  ring.pop_front();  // the front is not at slot 0 any more
  for (int i = 10; i < 20; ++i) ring.push_back(std::make_unique<int>(i));
  ring.RemoveIf([](const std::unique_ptr<int>& value) { return *value % 3; });
  EXPECT_EQ(Contents(ring), (std::vector<int>{3, 6, 9, 12, 15, 18}));
  ring.push_back(std::make_unique<int>(21));
  EXPECT_EQ(Contents(ring), (std::vector<int>{3, 6, 9, 12, 15, 18, 21}));
}

TEST(RingTest, ShrinksWhenMostlyEmptyAndClearFreesEverything) {
  Ring<std::unique_ptr<int>> ring;
  for (int i = 0; i < 4096; ++i) ring.push_back(std::make_unique<int>(i));
  EXPECT_EQ(ring.capacity(), 4096u);
  ring.RemoveIf(
      [](const std::unique_ptr<int>& value) { return *value >= 100; });
  EXPECT_EQ(ring.size(), 100u);
  EXPECT_LE(ring.capacity(), 4 * ring.size());
  EXPECT_EQ(*ring.back(), 99);
  ring.clear();
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.capacity(), 0u);
}

}  // namespace
}  // namespace switchboard::server
