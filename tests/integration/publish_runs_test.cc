// SPDX-License-Identifier: MIT
//
// Runs of small messages through the real broker with the real client
// library (wire/publish_run.h): a publisher in a tight loop sends hundreds
// of small PUBLISH frames per read, which the broker checks, matches and
// queues as runs. Every subscriber must still get every message whole and
// in order, and a subscriber that falls behind must lose only what its
// overflow policy says, each loss reported. Both transports.
//
// Loopback TCP buffers megabytes for a subscriber that reads nothing, so
// the publisher repeats its loop until the broker reports that the slow
// subscriber's queue overflowed (once over a Unix socket).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/clients.h"
#include "tests/testing/message_log.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "wire/prefix.h"
#include "wire/publish_run.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::FindSubscription;
using ::switchboard::testing::GetBrokerStatus;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::MessageLog;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(60);
constexpr absl::string_view kTopic = "runs.small";
// Messages published in one loop.
constexpr int kCount = 20000;
// Loops published at most, waiting for a slow subscriber to overflow.
constexpr int kMaxLoops = 5;
// Small enough that every frame fits a run, with its prefix and a header
// of less than 64 bytes.
constexpr size_t kPayloadBytes = 100;
static_assert(wire::kPrefixBytes + 64 + kPayloadBytes <=
              wire::PublishRun::kMaxFrameBytes);
// The broker's largest per-subscription message limit and more bytes than
// it allows: this subscriber's queue holds every message.
constexpr uint32_t kRoomyQueue = 65536;
constexpr uint64_t kRoomyBytes = uint64_t{1} << 30;
constexpr uint32_t kSlowQueue = 100;

// "SEQ" as 8 digits, then bytes that depend on it, kPayloadBytes in all.
std::string SequencePayload(int seq) {
  std::string payload = absl::StrFormat("%08d", seq);
  for (size_t i = payload.size(); i < kPayloadBytes; ++i) {
    payload.push_back(static_cast<char>('a' + (seq + i) % 26));
  }
  return payload;
}

// The sequence number of a payload, checking that it is whole; -1 if not.
int SequenceOf(absl::string_view payload) {
  int seq = -1;
  if (payload.size() != kPayloadBytes ||
      !absl::SimpleAtoi(payload.substr(0, 8), &seq) ||
      payload != SequencePayload(seq)) {
    ADD_FAILURE() << "a damaged payload of " << payload.size()
                  << " bytes: " << absl::CEscape(payload.substr(0, 40));
    return -1;
  }
  return seq;
}

// The sequence numbers of what `log` received, checking each message's
// topic and sender.
std::vector<int> Sequences(const MessageLog& log, uint64_t sender) {
  std::vector<int> seqs;
  for (const Message& message : log.Messages()) {
    EXPECT_EQ(message.topic, kTopic);
    EXPECT_EQ(message.sender, sender);
    seqs.push_back(SequenceOf(message.payload));
  }
  return seqs;
}

std::vector<int> Range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

class PublishRunsTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  // Publishes messages `from` to `to` - 1 in a tight loop.
  static void PublishLoop(Client& publisher, int from, int to) {
    for (int i = from; i < to; ++i) {
      ASSERT_THAT(publisher.Publish(kTopic, Payload(SequencePayload(i))),
                  IsOk());
    }
  }

  // Messages the broker dropped for `subscription` of `connection`. The
  // status request follows the publishes on `publisher`'s connection, so
  // the broker has routed them all when it answers.
  static absl::StatusOr<uint64_t> Dropped(Client& publisher,
                                          uint64_t connection,
                                          uint64_t subscription) {
    absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(publisher);
    if (!status.ok()) return status.status();
    absl::StatusOr<v1::SubscriptionStatus> found =
        FindSubscription(*status, connection, subscription);
    if (!found.ok()) return found.status();
    return found->dropped();
  }

  BrokerProcess broker_{GetParam()};
};

TEST_P(PublishRunsTest, ATightLoopArrivesWholeInOrderAndOverflowsByPolicy) {
  std::unique_ptr<Client> reader = ConnectOrDie(broker_, "reader");
  MessageLog all;
  absl::StatusOr<Subscription> reader_subscription = reader->Subscribe(
      kTopic, all.OnMessage(),
      all.Options(kRoomyQueue, OverflowPolicy::kDropNewest, kRoomyBytes));
  ASSERT_THAT(reader_subscription, IsOk());
  // The slow subscriber's callback waits in the first message until the
  // publisher is done, so its queue overflows while the loop runs.
  std::unique_ptr<Client> slow = ConnectOrDie(broker_, "slow");
  MessageLog held(/*hold_first=*/true);
  absl::StatusOr<Subscription> slow_subscription =
      slow->Subscribe(kTopic, held.OnMessage(),
                      held.Options(kSlowQueue, OverflowPolicy::kDropOldest));
  ASSERT_THAT(slow_subscription, IsOk());
  const uint64_t slow_id = slow_subscription->id();
  // Dropping the handle waits for the held callback: release it first.
  absl::Cleanup release_held = [&held] { held.Release(); };
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  const uint64_t sender = publisher->connection_id();

  ASSERT_THAT(publisher->Publish(kTopic, Payload(SequencePayload(0))), IsOk());
  ASSERT_TRUE(WaitFor([&] { return held.holding(); }, kTimeout));
  int published = 1;
  uint64_t dropped = 0;
  for (int loop = 0; loop < kMaxLoops && dropped == 0; ++loop) {
    ASSERT_NO_FATAL_FAILURE(
        PublishLoop(*publisher, published, published + kCount));
    published += kCount;
    absl::StatusOr<uint64_t> now =
        Dropped(*publisher, slow->connection_id(), slow_id);
    ASSERT_THAT(now, IsOk());
    dropped = *now;
  }
  ASSERT_GT(dropped, 0u) << "the slow subscriber's queue never overflowed";
  // The last message, confirmed: queued for both, drop_oldest making room
  // for it.
  absl::StatusOr<PublishResult> last =
      publisher->PublishConfirmed(kTopic, Payload(SequencePayload(published)));
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(last->delivered, 2u);
  EXPECT_EQ(last->dropped, 0u);
  ++published;
  held.Release();

  // The reader gets every message, whole and in order.
  ASSERT_TRUE(all.WaitForMessages(published, kTimeout))
      << all.message_count() << " of " << published;
  EXPECT_EQ(Sequences(all, sender), Range(0, published));
  EXPECT_EQ(all.dropped(), 0u);

  // The slow subscriber gets the newest messages, and every one it lost
  // is reported.
  const std::string last_seq = absl::StrFormat("%08d", published - 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<Message> messages = held.Messages();
        return !messages.empty() &&
               absl::string_view(messages.back().payload).substr(0, 8) ==
                   last_seq;
      },
      kTimeout))
      << held.message_count() << " messages, " << held.dropped() << " dropped";
  const std::vector<int> received = Sequences(held, sender);
  for (size_t i = 1; i < received.size(); ++i) {
    ASSERT_GT(received[i], received[i - 1])
        << "out of order at " << i << ": " << absl::StrJoin(received, ",");
  }
  ASSERT_GE(received.size(), kSlowQueue);
  EXPECT_EQ(std::vector<int>(received.end() - kSlowQueue, received.end()),
            Range(published - kSlowQueue, published));
  // Each report's total is the sum of the counts so far; the last one's is
  // every drop, and with what arrived makes every message published.
  uint64_t reported = 0;
  uint64_t last_total = 0;
  int reports = 0;
  for (const MessageLog::Entry& entry : held.Entries()) {
    if (!entry.dropped) continue;
    ++reports;
    EXPECT_EQ(entry.drop.subscription, slow_id);
    EXPECT_GT(entry.drop.count, 0u);
    reported += entry.drop.count;
    EXPECT_EQ(entry.drop.total, reported);
    last_total = entry.drop.total;
  }
  EXPECT_EQ(reported, held.dropped());
  // Nothing was read while the subscriber was held, so the first report
  // waited unwritten in the broker's queue and took every later drop: one
  // report for the whole stall, not one per message dropped. Over TCP the
  // kernel may grow the socket's buffer meanwhile and let a report out;
  // the next drop then starts a new one.
  if (GetParam() == Transport::kUnix) {
    EXPECT_EQ(reports, 1) << reported << " drops";
  } else {
    EXPECT_LE(reports, 10) << reported << " drops";
  }
  EXPECT_GE(last_total, dropped);
  EXPECT_EQ(received.size() + last_total, static_cast<size_t>(published));
  absl::StatusOr<SubscriptionStats> stats = slow->GetSubscriptionStats(slow_id);
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->received, received.size());
  EXPECT_EQ(stats->dropped, last_total);
  absl::StatusOr<uint64_t> broker_dropped =
      Dropped(*publisher, slow->connection_id(), slow_id);
  ASSERT_THAT(broker_dropped, IsOk());
  EXPECT_EQ(*broker_dropped, last_total);
}

// A connection with two subscriptions that match gets both copies of each
// message before the next message (docs/PROTOCOL.md 9), as with single
// publishes.
TEST_P(PublishRunsTest, TwoSubscriptionsOfOneConnectionGetEachMessageInTurn) {
  // Declared before the reader, whose callbacks use them.
  absl::Mutex mu;
  // What arrived, in order: (which subscription, sequence number).
  std::vector<std::pair<int, int>> arrived;  // guarded by mu
  uint64_t drops = 0;                        // guarded by mu
  auto roomy_options = [&] {
    SubscribeOptions options;
    options.max_messages = kRoomyQueue;
    options.max_bytes = kRoomyBytes;
    options.on_drop = [&](const DropReport& report) {
      absl::MutexLock lock(&mu);
      drops += report.count;
    };
    return options;
  };
  auto record = [&](int which) {
    return [&, which](const Message& message) {
      const int seq = SequenceOf(message.payload);
      absl::MutexLock lock(&mu);
      arrived.emplace_back(which, seq);
    };
  };
  std::unique_ptr<Client> reader = ConnectOrDie(broker_, "reader");
  absl::StatusOr<Subscription> exact =
      reader->Subscribe(kTopic, record(0), roomy_options());
  ASSERT_THAT(exact, IsOk());
  absl::StatusOr<Subscription> wildcard =
      reader->Subscribe("runs.*", record(1), roomy_options());
  ASSERT_THAT(wildcard, IsOk());
  std::unique_ptr<Client> publisher = ConnectOrDie(broker_, "publisher");
  ASSERT_NO_FATAL_FAILURE(PublishLoop(*publisher, 0, kCount));
  absl::StatusOr<PublishResult> last =
      publisher->PublishConfirmed(kTopic, Payload(SequencePayload(kCount)));
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(last->delivered, 2u);

  const size_t expected = 2 * (kCount + 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return arrived.size() >= expected;
      },
      kTimeout));
  absl::MutexLock lock(&mu);
  ASSERT_EQ(arrived.size(), expected);
  EXPECT_EQ(drops, 0u);
  for (size_t i = 0; i < expected; i += 2) {
    const int seq = static_cast<int>(i / 2);
    ASSERT_EQ(arrived[i].second, seq) << "at arrival " << i;
    ASSERT_EQ(arrived[i + 1].second, seq) << "at arrival " << i + 1;
    ASSERT_NE(arrived[i].first, arrived[i + 1].first) << "at arrival " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTransports, PublishRunsTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
