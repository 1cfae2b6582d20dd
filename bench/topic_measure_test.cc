// SPDX-License-Identifier: MIT
#include "bench/topic_measure.h"

#include <string>
#include <vector>

#include "bench/topic_message.h"
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

TEST(MessagesDueTest, CountsWholeMessagesDueAtTheRate) {
  EXPECT_EQ(MessagesDue(1'000'000, 0), 0u);
  EXPECT_EQ(MessagesDue(1'000'000, 999), 0u);  // the first is due at 1 us
  EXPECT_EQ(MessagesDue(1'000'000, 1'000), 1u);
  EXPECT_EQ(MessagesDue(1'000'000, 2'500'000), 2'500u);
  EXPECT_EQ(MessagesDue(3, 1'000'000'000), 3u);
  EXPECT_EQ(MessagesDue(3, 999'999'999), 2u);
  // Ten seconds at a hundred million a second: no overflow.
  EXPECT_EQ(MessagesDue(100'000'000, 10'000'000'000), 1'000'000'000u);
}

TEST(MessagesDueTest, NoRateOrNoTimeMeansNothingDue) {
  EXPECT_EQ(MessagesDue(0, 1'000'000'000), 0u);
  EXPECT_EQ(MessagesDue(-5, 1'000'000'000), 0u);
  EXPECT_EQ(MessagesDue(1'000, -1), 0u);
}

// Counts what it is given; takes everything at once.
class CountingPublisher : public TopicPublisher {
 public:
  absl::Status Publish(absl::string_view message) override {
    ++published;
    last_size = message.size();
    return absl::OkStatus();
  }
  absl::Status PublishLast(absl::string_view) override {
    ended = true;
    return absl::OkStatus();
  }
  uint64_t published = 0;
  size_t last_size = 0;
  bool ended = false;
};

TEST(PublishMessagesTest, APacedPublisherNeverGetsAheadOfItsRate) {
  MeasureOptions options;
  options.workload = Workload::kPubSub;
  options.warmup = absl::Milliseconds(10);
  options.duration = absl::Milliseconds(50);
  options.rate = 20'000;  // one message every 50 us
  CountingPublisher publisher;
  const int64_t before = MonotonicNanos();
  ClientReport report = PublishMessages(options, publisher);
  const int64_t after = MonotonicNanos();
  EXPECT_TRUE(report.error.empty()) << report.error;
  EXPECT_TRUE(publisher.ended);
  EXPECT_EQ(publisher.published, report.messages);
  EXPECT_EQ(publisher.last_size, kPubSubMessageBytes);
  ASSERT_GT(report.ops, 0u);
  // However slow the machine, a paced publisher never publishes more than
  // was due since it began (plus the one due at its start). The measured
  // part alone may publish more than was due within it: what came due
  // while a delayed warmup lagged is published then.
  EXPECT_LE(publisher.published, MessagesDue(options.rate, after - before) + 1);
}

TEST(PublishMessagesTest, OpsPublishesExactlyThatManyMeasuredMessages) {
  MeasureOptions options;
  options.workload = Workload::kPubSub;
  options.warmup = absl::ZeroDuration();
  options.ops = 100'000;
  CountingPublisher publisher;
  ClientReport report = PublishMessages(options, publisher);
  EXPECT_TRUE(report.error.empty()) << report.error;
  EXPECT_EQ(report.ops, 100'000u);
  EXPECT_EQ(report.messages, 100'001u);  // one warm-up message first
}

}  // namespace
}  // namespace switchboard::bench
