// SPDX-License-Identifier: MIT
#include "bench/topic_message.h"

#include <string>

#include "gtest/gtest.h"

namespace switchboard::bench {
namespace {

std::string Make(const TopicStamp& stamp, size_t size) {
  std::string message(size, '\0');
  WriteTopicMessage(stamp, message.data(), size);
  return message;
}

TEST(TopicMessageTest, ReadGivesBackTheStamp) {
  for (size_t size : {size_t{64}, size_t{256}}) {
    std::string message = Make({12345, 987654321, TopicPhase::kWarmup}, size);
    std::optional<TopicStamp> stamp = ReadTopicMessage(message, size);
    ASSERT_TRUE(stamp.has_value());
    EXPECT_EQ(stamp->sequence, 12345u);
    EXPECT_EQ(stamp->sent_ns, 987654321);
    EXPECT_EQ(stamp->phase, TopicPhase::kWarmup);
  }
}

TEST(TopicMessageTest, ADamagedFillByteIsRejected) {
  std::string message = Make({7, 1, TopicPhase::kMeasured}, 64);
  message[63] ^= 1;
  EXPECT_FALSE(ReadTopicMessage(message, 64).has_value());
}

TEST(TopicMessageTest, TheFillDependsOnTheSequenceNumber) {
  std::string message = Make({7, 1, TopicPhase::kMeasured}, 64);
  std::string other = Make({8, 1, TopicPhase::kMeasured}, 64);
  message.replace(0, 8, other, 0, 8);  // message 8's number, message 7's fill
  EXPECT_FALSE(ReadTopicMessage(message, 64).has_value());
}

TEST(TopicMessageTest, TheWrongSizeIsRejected) {
  std::string message = Make({7, 1, TopicPhase::kMeasured}, 64);
  EXPECT_FALSE(ReadTopicMessage(message, 256).has_value());
  EXPECT_FALSE(ReadTopicMessage(message.substr(0, 10), 10).has_value());
}

TEST(TopicMessageTest, AnUnknownPhaseIsRejected) {
  std::string message = Make({7, 1, TopicPhase::kMeasured}, 64);
  message[16] = 9;
  EXPECT_FALSE(ReadTopicMessage(message, 64).has_value());
}

}  // namespace
}  // namespace switchboard::bench
