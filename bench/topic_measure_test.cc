// SPDX-License-Identifier: MIT
#include "bench/topic_measure.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::bench {
namespace {

std::string Make(uint64_t sequence, TopicPhase phase, int64_t sent_ns = 0) {
  std::string message(kPubSubMessageBytes, '\0');
  WriteTopicMessage({sequence, sent_ns, phase}, message.data(), message.size());
  return message;
}

TEST(SubscriberTallyTest, CountsWarmupAndMeasuredButTimesMeasuredOnly) {
  SubscriberTally tally(Workload::kPubSub);
  EXPECT_FALSE(tally.Receive(Make(1, TopicPhase::kWarmup)));
  EXPECT_FALSE(tally.Receive(Make(2, TopicPhase::kMeasured, MonotonicNanos())));
  EXPECT_FALSE(tally.Receive(Make(3, TopicPhase::kMeasured, MonotonicNanos())));
  EXPECT_FALSE(tally.ended());
  EXPECT_TRUE(tally.Receive(Make(4, TopicPhase::kEnd)));
  EXPECT_TRUE(tally.ended());
  EXPECT_EQ(tally.report().messages, 3u);
  EXPECT_EQ(tally.report().ops, 2u);
  EXPECT_EQ(tally.report().latencies.total(), 2u);
  EXPECT_GT(tally.report().end_ns, 0);
}

TEST(SubscriberTallyTest, RepeatedReorderedAndDamagedMessagesAreNotCounted) {
  SubscriberTally tally(Workload::kPubSub);
  tally.Receive(Make(5, TopicPhase::kMeasured));
  tally.Receive(Make(5, TopicPhase::kMeasured));  // repeated
  tally.Receive(Make(4, TopicPhase::kMeasured));  // reordered
  std::string damaged = Make(6, TopicPhase::kMeasured);
  damaged[40] ^= 1;
  tally.Receive(damaged);
  tally.Receive(Make(7, TopicPhase::kMeasured).substr(0, 32));  // cut
  tally.Receive(Make(9, TopicPhase::kMeasured));                // a gap is fine
  EXPECT_EQ(tally.report().messages, 2u);
}

ClientReport Subscriber(uint64_t messages, uint64_t ops, int64_t end_ns) {
  ClientReport report;
  report.messages = messages;
  report.ops = ops;
  report.end_ns = end_ns;
  for (uint64_t i = 0; i < ops; ++i) report.latencies.Record(1000);
  return report;
}

TEST(CombineTopicReportsTest, SumsWhatEverySubscriberReceived) {
  ClientReport publisher;
  publisher.messages = 100;
  publisher.start_ns = 1'000;
  std::vector<ClientReport> subscribers = {Subscriber(100, 90, 5'000),
                                           Subscriber(97, 88, 9'000)};
  subscribers[1].dropped = 2;
  absl::StatusOr<ClientReport> round =
      CombineTopicReports(publisher, subscribers);
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->ops, 178u);
  EXPECT_EQ(round->lost, 3u);  // 2 x 100 published, 197 received
  EXPECT_EQ(round->dropped, 2u);
  EXPECT_EQ(round->elapsed_ns, 8'000);  // to the last subscriber's last one
  EXPECT_EQ(round->latencies.total(), 178u);
}

TEST(CombineTopicReportsTest, MoreReceivedThanPublishedIsOurBug) {
  ClientReport publisher;
  publisher.messages = 10;
  absl::StatusOr<ClientReport> round =
      CombineTopicReports(publisher, {Subscriber(11, 11, 5)});
  EXPECT_EQ(round.status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace switchboard::bench
