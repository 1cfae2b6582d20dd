// SPDX-License-Identifier: MIT
//
// Subscribers that do not keep up (docs/PROTOCOL.md 5.5 "Queues and
// overflow", 6.1, 9): each overflow policy with exact drop accounting. A
// subscriber is stalled either by holding its dispatch thread in a callback
// (the library stops reading) or by a raw connection that reads nothing;
// then a publisher sends N messages, the subscriber is released, and every
// message must be accounted for: received, or counted in a drop report that
// came before the next message received.
//
// What the kernel's socket buffer already holds when the broker's queue
// fills is unknown, so the tests check what must hold exactly whatever it
// is: messages received plus drops reported equal the messages published
// (at each message for drop_newest, by the end for drop_oldest, whose
// reports follow the older messages it kept); drop_newest loses the last
// messages,
// drop_oldest keeps exactly the last max_messages; disconnect ends only the
// slow subscriber, which received a prefix of the stream. N is chosen from the
// kernel's largest socket buffer so that the broker's queue surely overflows.
//
// These run over Unix sockets only: the policies do not depend on the
// transport, and loopback TCP may buffer tens of megabytes (tcp_rmem), which
// would make N, and the test, large.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/message_log.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/topic_frames.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::ConnectRaw;
using ::switchboard::testing::FindSubscription;
using ::switchboard::testing::GetBrokerStatus;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::MessageLog;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::ReadFileToString;
using ::switchboard::testing::Request;
using ::switchboard::testing::SubscribeHeader;
using ::switchboard::testing::Transport;
using ::switchboard::testing::WaitFor;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);
constexpr size_t kPayloadBytes = 64 << 10;
constexpr uint32_t kMaxMessages = 4;
constexpr absl::string_view kTopic = "overflow.topic";

// The most an AF_UNIX stream socket can hold for its reader: the sender's
// buffer, which setsockopt may raise to twice net.core.wmem_max.
uint64_t UnixSocketBufferBound() {
  absl::StatusOr<std::string> text =
      ReadFileToString("/proc/sys/net/core/wmem_max");
  uint64_t wmem_max = 0;
  if (!text.ok() ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &wmem_max)) {
    ADD_FAILURE() << "cannot read net.core.wmem_max: " << text.status();
    return 64 << 20;
  }
  return 2 * wmem_max;
}

// Enough messages to overflow a queue of kMaxMessages behind a full socket
// buffer, plus what a library may have read ahead (1 MiB), with room to
// spare.
int MessagesToOverflow() {
  return static_cast<int>((UnixSocketBufferBound() + (1 << 20)) /
                          kPayloadBytes) +
         4 * kMaxMessages + 16;
}

// "SEQ" as 8 digits, padded to kPayloadBytes.
std::string SequencePayload(int seq) {
  std::string payload = absl::StrFormat("%08d", seq);
  payload.resize(kPayloadBytes, 'p');
  return payload;
}

int SequenceOf(absl::string_view payload) {
  int seq = -1;
  if (payload.size() != kPayloadBytes ||
      !absl::SimpleAtoi(payload.substr(0, 8), &seq)) {
    ADD_FAILURE() << "unexpected payload of " << payload.size() << " bytes";
  }
  return seq;
}

// What one subscription was told, in order: a message (its sequence
// number) or a drop report (its count).
struct Item {
  bool dropped = false;
  uint64_t value = 0;
};

// "0 1 2 (dropped 5) 8 9": what arrived, for failure messages.
std::string Describe(const std::vector<Item>& items) {
  std::string out;
  for (const Item& item : items) {
    if (!out.empty()) out += " ";
    out += item.dropped ? absl::StrCat("(dropped ", item.value, ")")
                        : absl::StrCat(item.value);
  }
  return out;
}

// When drop reports come (docs/PROTOCOL.md 5.5): just before the next
// message queued for the subscription after the drops. With drop_newest
// (and disconnect) the lost messages are the newest, so at every message
// received, messages received plus drops reported equal its sequence number
// plus one. With drop_oldest the lost messages are older than those still
// queued, whose report comes after them, so the sum may lag behind at a
// message but never runs ahead, and it catches up by the end.
enum class ReportTiming { kAtEachMessage, kByTheEnd };

// The received sequence numbers, after checking the accounting the spec
// promises for `timing`; sequence numbers only grow.
std::vector<int> CheckAccounting(const std::vector<Item>& items,
                                 ReportTiming timing) {
  SCOPED_TRACE(absl::StrCat("received: ", Describe(items)));
  std::vector<int> received;
  uint64_t dropped = 0;
  for (const Item& item : items) {
    if (item.dropped) {
      EXPECT_GT(item.value, 0u) << "a drop report with count 0";
      dropped += item.value;
      continue;
    }
    const int seq = static_cast<int>(item.value);
    if (!received.empty()) {
      EXPECT_GT(seq, received.back()) << "message out of order";
    }
    received.push_back(seq);
    const uint64_t accounted = received.size() + dropped;
    const uint64_t published = static_cast<uint64_t>(seq) + 1;
    if (timing == ReportTiming::kAtEachMessage) {
      EXPECT_EQ(accounted, published)
          << "at message " << seq << ": " << received.size() << " received and "
          << dropped
          << " reported dropped before it (a drop report missing or late)";
    } else {
      EXPECT_LE(accounted, published)
          << "at message " << seq << ": " << received.size() << " received and "
          << dropped
          << " reported dropped before it (drops reported too early)";
    }
  }
  return received;
}

ReportTiming TimingOf(OverflowPolicy policy) {
  return policy == OverflowPolicy::kDropOldest ? ReportTiming::kByTheEnd
                                               : ReportTiming::kAtEachMessage;
}

ReportTiming TimingOf(v1::OverflowPolicy policy) {
  return policy == v1::OVERFLOW_POLICY_DROP_NEWEST
             ? ReportTiming::kAtEachMessage
             : ReportTiming::kByTheEnd;
}

std::vector<Item> ItemsOf(const MessageLog& log, uint64_t subscription) {
  std::vector<Item> items;
  uint64_t total = 0;
  for (const MessageLog::Entry& entry : log.Entries()) {
    if (entry.dropped) {
      EXPECT_EQ(entry.drop.subscription, subscription);
      total += entry.drop.count;
      EXPECT_EQ(entry.drop.total, total);
      EXPECT_FALSE(entry.drop.reason.empty());
      items.push_back({true, entry.drop.count});
    } else {
      EXPECT_EQ(entry.message.topic, kTopic);
      items.push_back(
          {false, static_cast<uint64_t>(SequenceOf(entry.message.payload))});
    }
  }
  return items;
}

// A prefix 0..k-1 of the stream?
bool IsPrefix(const std::vector<int>& seqs) {
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i] != static_cast<int>(i)) return false;
  }
  return true;
}

class OverflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    publisher_ = ConnectOrDie(broker_, "publisher");
  }

  // Publishes `from`..`to`-1 and returns once the broker has handled them
  // all (a ping behind them on the same connection).
  void PublishRange(int from, int to) {
    for (int i = from; i < to; ++i) {
      ASSERT_THAT(publisher_->Publish(kTopic, Payload(SequencePayload(i))),
                  IsOk());
    }
    ASSERT_THAT(publisher_->Ping(absl::Seconds(20)), IsOk());
  }

  // The broker's view of a subscription.
  absl::StatusOr<v1::SubscriptionStatus> Status(uint64_t connection,
                                                uint64_t subscription) {
    absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*publisher_);
    if (!status.ok()) return status.status();
    return FindSubscription(*status, connection, subscription);
  }

  // Waits until the broker holds nothing for the subscription.
  bool WaitDrained(uint64_t connection, uint64_t subscription) {
    return WaitFor(
        [&] {
          absl::StatusOr<v1::SubscriptionStatus> status =
              Status(connection, subscription);
          return status.ok() && status->queued_messages() == 0;
        },
        kTimeout);
  }

  BrokerProcess broker_{Transport::kUnix};
  std::unique_ptr<Client> publisher_;
};

class LibraryOverflowTest
    : public OverflowTest,
      public ::testing::WithParamInterface<OverflowPolicy> {};

// The subscriber's dispatch thread waits in the first message's callback
// while the rest is published; then it is released and a marker message
// follows once the broker's queue has drained.
TEST_P(LibraryOverflowTest, EveryMessageIsReceivedOrReportedDropped) {
  const OverflowPolicy policy = GetParam();
  const int n = MessagesToOverflow();
  std::unique_ptr<Client> subscriber = ConnectOrDie(broker_, "subscriber");
  MessageLog log(/*hold_first=*/true);
  absl::StatusOr<Subscription> subscription = subscriber->Subscribe(
      kTopic, log.OnMessage(), log.Options(kMaxMessages, policy));
  ASSERT_THAT(subscription, IsOk());
  const uint64_t id = subscription->id();
  // Dropping the handle waits for the held callback: release it first.
  absl::Cleanup release = [&log] { log.Release(); };

  PublishRange(0, 1);
  ASSERT_TRUE(WaitFor([&] { return log.holding(); }, kTimeout));
  PublishRange(1, n);

  // Held: the broker's queue is full and the rest went by the policy.
  absl::StatusOr<v1::SubscriptionStatus> held =
      Status(subscriber->connection_id(), id);
  ASSERT_THAT(held, IsOk());
  EXPECT_EQ(held->queued_messages(), kMaxMessages);
  EXPECT_GT(held->dropped(), 0u);
  EXPECT_EQ(held->max_messages(), kMaxMessages);
  EXPECT_EQ(held->policy(), policy == OverflowPolicy::kDropOldest
                                ? "drop_oldest"
                                : "drop_newest");

  log.Release();
  ASSERT_TRUE(WaitDrained(subscriber->connection_id(), id));
  absl::StatusOr<PublishResult> marker =
      publisher_->PublishConfirmed(kTopic, Payload(SequencePayload(n)));
  ASSERT_THAT(marker, IsOk());
  EXPECT_EQ(marker->delivered, 1u);
  EXPECT_EQ(marker->dropped, 0u);
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<Message> messages = log.Messages();
        return !messages.empty() && SequenceOf(messages.back().payload) == n;
      },
      kTimeout));

  std::vector<int> received =
      CheckAccounting(ItemsOf(log, id), TimingOf(policy));
  ASSERT_FALSE(received.empty());
  ASSERT_EQ(received.back(), n);
  received.pop_back();  // the marker
  EXPECT_EQ(received.size() + log.dropped(), static_cast<uint64_t>(n));
  EXPECT_GT(log.dropped(), 0u);
  // The broker handles a burst of publishes before it writes, so a queue
  // may empty into the socket between two bursts and the messages kept
  // need not be one run; but the queue takes the first kMaxMessages after
  // the one being held, and what the stalled subscriber has at the end is
  // decided by the policy alone.
  ASSERT_GT(received.size(), kMaxMessages);
  const std::vector<int> first(received.begin(),
                               received.begin() + kMaxMessages + 1);
  EXPECT_TRUE(IsPrefix(first)) << absl::StrJoin(received, ",");
  if (policy == OverflowPolicy::kDropNewest) {
    // The newest were dropped: the last published never arrived.
    EXPECT_LT(received.back(), n - 1) << absl::StrJoin(received, ",");
  } else {
    // The oldest were dropped: the queue kept exactly the last
    // kMaxMessages.
    const std::vector<int> tail(received.end() - kMaxMessages, received.end());
    std::vector<int> last;
    for (int i = n - static_cast<int>(kMaxMessages); i < n; ++i) {
      last.push_back(i);
    }
    EXPECT_EQ(tail, last) << absl::StrJoin(received, ",");
  }

  // The library's and the broker's counters agree with what arrived.
  absl::StatusOr<SubscriptionStats> stats = subscription->stats();
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->received, received.size() + 1);
  EXPECT_EQ(stats->dropped, log.dropped());
  absl::StatusOr<v1::SubscriptionStatus> after =
      Status(subscriber->connection_id(), id);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->dropped(), log.dropped());
  EXPECT_EQ(after->delivered(), received.size() + 1);
}

INSTANTIATE_TEST_SUITE_P(Policies, LibraryOverflowTest,
                         ::testing::Values(OverflowPolicy::kDropOldest,
                                           OverflowPolicy::kDropNewest),
                         [](const ::testing::TestParamInfo<OverflowPolicy>& p) {
                           return p.param == OverflowPolicy::kDropOldest
                                      ? std::string("DropOldest")
                                      : std::string("DropNewest");
                         });

// The same accounting seen on the wire by a raw subscriber that reads
// nothing until the end: MESSAGE frames carry the subscription id and the
// publisher's header byte for byte, and the EVENT messages_dropped sits
// exactly where the gap is.
class RawOverflowTest
    : public OverflowTest,
      public ::testing::WithParamInterface<v1::OverflowPolicy> {};

TEST_P(RawOverflowTest, DropReportSitsWhereTheGapIs) {
  const v1::OverflowPolicy policy = GetParam();
  const int n = MessagesToOverflow();
  constexpr uint64_t kSubscription = 41;
  absl::StatusOr<RawConnection> raw = ConnectRaw(broker_.address(), "");
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(
      Request(*raw, wire::Kind::kSubscribe, 1,
              SubscribeHeader(kSubscription, kTopic, kMaxMessages, policy),
              kTimeout),
      IsOkAndHolds(IsOk()));
  PublishRange(0, n);
  absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*publisher_);
  ASSERT_THAT(status, IsOk());
  uint64_t raw_id = 0;
  for (const v1::SubscriptionStatus& s : status->subscriptions()) {
    if (s.subscription_id() == kSubscription) raw_id = s.connection_id();
  }
  ASSERT_NE(raw_id, 0u) << "GetStatus does not list the raw subscription";

  // Read everything the broker holds, then send the marker.
  std::vector<Item> items;
  const std::string expected_header =
      testing::PublishHeader(kTopic).SerializeAsString();
  auto read_one = [&]() -> bool {
    absl::StatusOr<wire::Frame> frame = raw->ReadFrame(kTimeout);
    if (!frame.ok()) {
      ADD_FAILURE() << frame.status();
      return false;
    }
    if (frame->kind() == wire::Kind::kEvent) {
      absl::StatusOr<v1::Header> header = frame->ParseHeader();
      EXPECT_THAT(header, IsOk());
      if (!header.ok() || !header->event().has_messages_dropped()) {
        ADD_FAILURE() << "an EVENT that is not messages_dropped";
        return false;
      }
      const v1::Event::MessagesDropped& dropped =
          header->event().messages_dropped();
      EXPECT_EQ(dropped.subscription_id(), kSubscription);
      items.push_back({true, dropped.count()});
      return true;
    }
    if (frame->kind() != wire::Kind::kMessage) {
      ADD_FAILURE() << "unexpected " << wire::KindName(frame->kind());
      return false;
    }
    EXPECT_EQ(frame->request_id(), kSubscription);
    EXPECT_EQ(frame->prefix().sender, publisher_->connection_id());
    EXPECT_EQ(frame->header_bytes(), expected_header);
    items.push_back(
        {false, static_cast<uint64_t>(SequenceOf(frame->payload()))});
    return true;
  };
  // The broker holds exactly kMaxMessages (a full queue never shrinks while
  // nothing is read); the socket holds the rest of what arrives before it.
  absl::StatusOr<v1::SubscriptionStatus> held =
      FindSubscription(*status, raw_id, kSubscription);
  ASSERT_THAT(held, IsOk());
  EXPECT_EQ(held->queued_messages(), kMaxMessages);
  ASSERT_GT(held->dropped(), 0u);
  // Every message was delivered (queued for the connection, written or
  // not) or dropped; nothing more is dropped while the queue drains.
  EXPECT_EQ(held->delivered() + held->dropped(), static_cast<uint64_t>(n));
  EXPECT_LE(held->queued_messages(), held->delivered());
  const uint64_t to_read = n - held->dropped();
  uint64_t messages = 0;
  while (messages < to_read) {
    ASSERT_TRUE(read_one());
    if (!items.back().dropped) ++messages;
  }
  ASSERT_TRUE(WaitDrained(raw_id, kSubscription));
  ASSERT_THAT(publisher_->PublishConfirmed(kTopic, Payload(SequencePayload(n))),
              IsOk());
  do {
    ASSERT_TRUE(read_one());
  } while (items.back().dropped);

  std::vector<int> received = CheckAccounting(items, TimingOf(policy));
  ASSERT_FALSE(received.empty());
  EXPECT_EQ(received.back(), n);
  uint64_t reported = 0;
  for (const Item& item : items) reported += item.dropped ? item.value : 0;
  EXPECT_EQ(reported, held->dropped());
  EXPECT_EQ(received.size() - 1 + reported, static_cast<uint64_t>(n));
}

INSTANTIATE_TEST_SUITE_P(
    Policies, RawOverflowTest,
    ::testing::Values(v1::OVERFLOW_POLICY_DROP_OLDEST,
                      v1::OVERFLOW_POLICY_DROP_NEWEST,
                      v1::OVERFLOW_POLICY_UNSPECIFIED),
    [](const ::testing::TestParamInfo<v1::OverflowPolicy>& p) {
      switch (p.param) {
        case v1::OVERFLOW_POLICY_DROP_OLDEST:
          return std::string("DropOldest");
        case v1::OVERFLOW_POLICY_DROP_NEWEST:
          return std::string("DropNewest");
        default:
          return std::string("Unspecified");
      }
    });

TEST_F(OverflowTest, UnspecifiedPolicyMeansDropOldest) {
  absl::StatusOr<RawConnection> raw = ConnectRaw(broker_.address(), "");
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->SendFrame(wire::Kind::kSubscribe, 1,
                             SubscribeHeader(3, "any.thing")),
              IsOk());
  absl::StatusOr<wire::Frame> reply = testing::ReadReply(*raw, 1, kTimeout);
  ASSERT_THAT(reply, IsOk());
  v1::SubscribeResult result;
  ASSERT_TRUE(result.ParseFromString(std::string(reply->payload())));
  EXPECT_EQ(result.policy(), v1::OVERFLOW_POLICY_DROP_OLDEST);
  EXPECT_EQ(result.max_messages(), 1024u);
  EXPECT_EQ(result.max_bytes(), 8u << 20);
}

// A DISCONNECT subscription that overflows loses its connection; the
// publisher and another subscriber carry on and miss nothing.
TEST_F(OverflowTest, DisconnectClosesOnlyTheSlowSubscriber) {
  const int n = MessagesToOverflow();
  std::unique_ptr<Client> slow = ConnectOrDie(broker_, "slow");
  MessageLog slow_log(/*hold_first=*/true);
  absl::StatusOr<Subscription> slow_subscription = slow->Subscribe(
      kTopic, slow_log.OnMessage(),
      slow_log.Options(kMaxMessages, OverflowPolicy::kDisconnect));
  ASSERT_THAT(slow_subscription, IsOk());
  // Dropping the handle waits for the held callback: release it first.
  absl::Cleanup release = [&slow_log] { slow_log.Release(); };
  std::unique_ptr<Client> steady = ConnectOrDie(broker_, "steady");
  MessageLog steady_log;
  // Room for the whole burst, however far behind the publisher it falls.
  absl::StatusOr<Subscription> steady_subscription =
      steady->Subscribe(kTopic, steady_log.OnMessage(),
                        steady_log.Options(65536, OverflowPolicy::kDropOldest,
                                           2 * n * (kPayloadBytes + 1024)));
  ASSERT_THAT(steady_subscription, IsOk());

  PublishRange(0, 1);
  ASSERT_TRUE(WaitFor([&] { return slow_log.holding(); }, kTimeout));
  PublishRange(1, n);
  slow_log.Release();
  ASSERT_TRUE(WaitFor([&] { return !slow->connected(); }, kTimeout));

  ASSERT_TRUE(steady_log.WaitForMessages(n, kTimeout));
  std::vector<Message> messages = steady_log.Messages();
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(SequenceOf(messages[i].payload), i);
  }
  EXPECT_EQ(steady_log.dropped(), 0u);
  EXPECT_TRUE(publisher_->connected());
  absl::StatusOr<PublishResult> after =
      publisher_->PublishConfirmed(kTopic, Payload(SequencePayload(n)));
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->delivered, 1u);  // only the steady one is left
  // What the slow one got before the end is a prefix of the stream.
  std::vector<int> slow_seqs;
  for (const Message& message : slow_log.Messages()) {
    slow_seqs.push_back(SequenceOf(message.payload));
  }
  EXPECT_TRUE(IsPrefix(slow_seqs)) << absl::StrJoin(slow_seqs, ",");
  EXPECT_LT(slow_seqs.size(), static_cast<size_t>(n));
}

TEST_F(OverflowTest, DisconnectSendsResourceExhaustedNamingTheSubscription) {
  const int n = MessagesToOverflow();
  constexpr uint64_t kSubscription = 77;
  absl::StatusOr<RawConnection> raw = ConnectRaw(broker_.address(), "");
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(Request(*raw, wire::Kind::kSubscribe, 1,
                      SubscribeHeader(kSubscription, kTopic, kMaxMessages,
                                      v1::OVERFLOW_POLICY_DISCONNECT),
                      kTimeout),
              IsOkAndHolds(IsOk()));
  PublishRange(0, n);
  absl::StatusOr<std::vector<wire::Frame>> frames =
      raw->ReadUntilClosed(kTimeout);
  ASSERT_THAT(frames, IsOk());
  ASSERT_FALSE(frames->empty());
  const wire::Frame& last = frames->back();
  ASSERT_EQ(last.kind(), wire::Kind::kError);
  absl::StatusOr<v1::Header> header = last.ParseHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_EQ(header->error().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(header->error().message(),
              AnyOf(HasSubstr(absl::StrCat(kSubscription)),
                    HasSubstr(std::string(kTopic))));
  for (size_t i = 0; i + 1 < frames->size(); ++i) {
    EXPECT_EQ((*frames)[i].kind(), wire::Kind::kMessage);
    EXPECT_EQ(SequenceOf((*frames)[i].payload()), static_cast<int>(i));
  }
  EXPECT_TRUE(publisher_->connected());
  EXPECT_THAT(publisher_->Ping(), IsOk());
}

}  // namespace
}  // namespace switchboard
