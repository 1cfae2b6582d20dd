// SPDX-License-Identifier: MIT
#include "daemon/server/ring.h"

#include <deque>
#include <memory>
#include <random>
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
  // Drained, it keeps the slots it may shrink to, for the next burst.
  EXPECT_EQ(ring.capacity(), Ring<int>::kKeptCapacity);
}

TEST(RingTest, ReusesItsArrayForBurstsThatFillAndDrain) {
  Ring<std::unique_ptr<int>> ring;
  for (int burst = 0; burst < 3; ++burst) {
    for (int i = 0; i < 1000; ++i) ring.push_back(std::make_unique<int>(i));
    EXPECT_EQ(ring.capacity(), 1024u);
    while (!ring.empty()) ring.pop_front();
    EXPECT_EQ(ring.capacity(), 1024u);
  }
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
  // Halved while a quarter full, but not below the kept capacity.
  EXPECT_EQ(ring.capacity(), Ring<int>::kKeptCapacity);
  EXPECT_EQ(*ring.back(), 99);
  // Above the kept capacity it holds at most four slots per element.
  for (int i = 100; i < 8192; ++i) ring.push_back(std::make_unique<int>(i));
  EXPECT_EQ(ring.capacity(), 8192u);
  ring.RemoveIf(
      [](const std::unique_ptr<int>& value) { return *value >= 600; });
  EXPECT_EQ(ring.size(), 600u);
  EXPECT_LE(ring.capacity(), 4 * ring.size());
  ring.clear();
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.capacity(), 0u);
}

TEST(RingTest, PushFrontGrowsWhenFullAndKeepsTheOrder) {
  Ring<std::unique_ptr<int>> ring;
  ring.push_front(std::make_unique<int>(0));  // into no slots at all
  EXPECT_EQ(ring.capacity(), Ring<int>::kMinCapacity);
  for (int i = 1; i < static_cast<int>(Ring<int>::kMinCapacity); ++i) {
    ring.push_back(std::make_unique<int>(i));
  }
  ASSERT_EQ(ring.size(), ring.capacity());
  // Full: the front goes into a grown array, before all the others.
  ring.push_front(std::make_unique<int>(-1));
  EXPECT_EQ(ring.capacity(), 2 * Ring<int>::kMinCapacity);
  std::vector<int> expected = {-1};
  for (int i = 0; i < static_cast<int>(Ring<int>::kMinCapacity); ++i) {
    expected.push_back(i);
  }
  EXPECT_EQ(Contents(ring), expected);
  EXPECT_EQ(*ring.front(), -1);
  EXPECT_EQ(*ring.back(), 15);
  // A front popped and pushed again takes the same place.
  ring.pop_front();
  ring.pop_front();
  ring.push_front(std::make_unique<int>(-2));
  ring.push_back(std::make_unique<int>(16));
  expected.erase(expected.begin(), expected.begin() + 2);
  expected.insert(expected.begin(), -2);
  expected.push_back(16);
  EXPECT_EQ(Contents(ring), expected);
}

TEST(RingTest, PushFrontAgreesWithADequeAcrossWrapAroundAndGrowth) {
  Ring<std::unique_ptr<int>> ring;
  std::deque<int> model;
  std::mt19937 random(7);
  int next = 0;
  for (int step = 0; step < 20000; ++step) {
    const int op = static_cast<int>(random() % 8);
    if (op < 3) {
      ring.push_front(std::make_unique<int>(next));
      model.push_front(next++);
    } else if (op < 6) {
      ring.push_back(std::make_unique<int>(next));
      model.push_back(next++);
    } else if (!model.empty()) {
      ASSERT_EQ(*ring.front(), model.front());
      ring.pop_front();
      model.pop_front();
    }
    ASSERT_EQ(ring.size(), model.size());
    if (!model.empty()) {
      ASSERT_EQ(*ring.front(), model.front()) << "step " << step;
      ASSERT_EQ(*ring.back(), model.back()) << "step " << step;
    }
    ASSERT_LE(ring.size(), ring.capacity());
  }
  EXPECT_EQ(Contents(ring), std::vector<int>(model.begin(), model.end()));
  // RemoveIf and popping keep the order of what push_front put in.
  ring.RemoveIf([](const std::unique_ptr<int>& value) { return *value % 2; });
  std::erase_if(model, [](int value) { return value % 2; });
  EXPECT_EQ(Contents(ring), std::vector<int>(model.begin(), model.end()));
  while (!ring.empty()) {
    ASSERT_EQ(*ring.front(), model.front());
    ring.pop_front();
    model.pop_front();
  }
  EXPECT_TRUE(model.empty());
}

}  // namespace
}  // namespace switchboard::server
