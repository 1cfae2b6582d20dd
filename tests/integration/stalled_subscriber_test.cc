// SPDX-License-Identifier: MIT
//
// A subscriber that never reads must cost the broker no more than its queue
// limit (docs/PROTOCOL.md 5.5): a raw connection subscribes and then reads
// nothing while a publisher sends 200 MB in 64 KiB messages. Another
// subscriber that keeps up receives every message, the broker's resident
// memory (VmRSS in /proc/PID/status) stays below its size at the start plus
// the stalled subscription's byte limit plus what the steady subscriber may
// have queued plus a fixed allowance, and GetStatus shows the stalled
// subscription's drops.
//
// Unix sockets only: the broker's bound does not depend on the transport,
// and loopback TCP can hold tens of megabytes in the kernel (tcp_rmem),
// which would hide an unbounded broker unless far more were published.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/topic_frames.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
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
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::Request;
using ::switchboard::testing::ResidentBytes;
using ::switchboard::testing::SubscribeHeader;
using ::switchboard::testing::Transport;
using ::switchboard::testing::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(60);
constexpr size_t kPayloadBytes = 64 << 10;
constexpr uint64_t kTotalBytes = 128ull << 20;
constexpr int kMessages = static_cast<int>(kTotalBytes / kPayloadBytes);
// Published between two checks; the steady subscriber's queue must hold a
// whole batch (its default limit is 8 MiB), so it never drops.
constexpr int kBatch = 64;
constexpr uint64_t kStalledMaxBytes = 8 << 20;
// Allocator slack (AddressSanitizer's shadow and quarantine included), read
// buffers and bookkeeping: far below the 128 MiB a broker without a bound
// would hold.
constexpr uint64_t kAllowance = 32 << 20;
constexpr absl::string_view kTopic = "stalled.video";

std::string SequencePayload(int seq) {
  std::string payload = absl::StrFormat("%08d", seq);
  payload.resize(kPayloadBytes, 'v');
  return payload;
}

// Counts the steady subscriber's messages and checks each one's order and
// size as it arrives (keeping them would take 200 MB of test memory).
class SteadyCounter {
 public:
  MessageCallback OnMessage() {
    return [this](const Message& message) {
      int seq = -1;
      const bool parsed =
          message.payload.size() == kPayloadBytes &&
          absl::SimpleAtoi(message.payload.view().substr(0, 8), &seq);
      absl::MutexLock lock(&mu_);
      if (!parsed || seq != count_) ++mismatches_;
      ++count_;
    };
  }
  int count() const {
    absl::MutexLock lock(&mu_);
    return count_;
  }
  int mismatches() const {
    absl::MutexLock lock(&mu_);
    return mismatches_;
  }

 private:
  mutable absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  int mismatches_ ABSL_GUARDED_BY(mu_) = 0;
};

class StalledSubscriberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Under AddressSanitizer freed memory waits in a quarantine (256 MB by
    // default) before reuse, which would count against the broker; a small
    // one keeps the bound meaningful there. Other builds ignore the variable.
    const char* existing = std::getenv("ASAN_OPTIONS");
    std::string options = existing == nullptr ? "" : existing;
    if (!options.empty()) options += ":";
    options += "quarantine_size_mb=8:thread_local_quarantine_size_kb=256";
    ::setenv("ASAN_OPTIONS", options.c_str(), 1);
    broker_ = std::make_unique<BrokerProcess>(Transport::kUnix);
    ASSERT_TRUE(broker_->started());
  }

  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(StalledSubscriberTest, BrokerMemoryStaysBoundedAndOthersGetEverything) {
  absl::StatusOr<std::string> token = broker_->ReadToken();
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<RawConnection> stalled =
      ConnectRaw(broker_->address(), *token);
  ASSERT_THAT(stalled, IsOk());
  constexpr uint64_t kStalledId = 9;
  ASSERT_THAT(Request(*stalled, wire::Kind::kSubscribe, 1,
                      SubscribeHeader(kStalledId, kTopic, 65536,
                                      v1::OVERFLOW_POLICY_DROP_OLDEST,
                                      kStalledMaxBytes),
                      kTimeout),
              IsOkAndHolds(IsOk()));

  SteadyCounter counter;  // outlives the client whose callback uses it
  std::unique_ptr<Client> steady = ConnectOrDie(*broker_, "steady");
  SubscribeOptions options;
  options.max_messages = 65536;
  absl::StatusOr<Subscription> steady_subscription =
      steady->Subscribe(kTopic, counter.OnMessage(), options);
  ASSERT_THAT(steady_subscription, IsOk());
  std::unique_ptr<Client> publisher = ConnectOrDie(*broker_, "publisher");
  ASSERT_THAT(publisher->Ping(), IsOk());

  absl::StatusOr<uint64_t> baseline = ResidentBytes(broker_->pid());
  ASSERT_THAT(baseline, IsOk());
  const uint64_t bound = *baseline + kStalledMaxBytes +
                         kBatch * (kPayloadBytes + 4096) + kAllowance;
  uint64_t peak = *baseline;
  for (int sent = 0; sent < kMessages;) {
    const int end = std::min(sent + kBatch, kMessages);
    for (; sent < end; ++sent) {
      ASSERT_THAT(publisher->Publish(kTopic, Payload(SequencePayload(sent))),
                  IsOk());
    }
    ASSERT_TRUE(WaitFor([&] { return counter.count() >= end; }, kTimeout))
        << counter.count() << " of " << end;
    absl::StatusOr<uint64_t> rss = ResidentBytes(broker_->pid());
    ASSERT_THAT(rss, IsOk());
    peak = std::max(peak, *rss);
    ASSERT_LT(*rss, bound) << "after " << sent << " messages the broker uses "
                           << *rss << " bytes, baseline " << *baseline;
  }
  RecordProperty("broker_rss_baseline", absl::StrCat(*baseline));
  RecordProperty("broker_rss_peak", absl::StrCat(peak));

  EXPECT_EQ(counter.count(), kMessages);
  EXPECT_EQ(counter.mismatches(), 0);

  absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*publisher);
  ASSERT_THAT(status, IsOk());
  uint64_t stalled_connection = 0;
  for (const v1::SubscriptionStatus& s : status->subscriptions()) {
    if (s.subscription_id() == kStalledId && s.pattern() == kTopic) {
      stalled_connection = s.connection_id();
    }
  }
  absl::StatusOr<v1::SubscriptionStatus> stalled_status =
      FindSubscription(*status, stalled_connection, kStalledId);
  ASSERT_THAT(stalled_status, IsOk());
  EXPECT_GT(stalled_status->dropped(), 0u);
  EXPECT_LE(stalled_status->queued_bytes(), kStalledMaxBytes);
  EXPECT_EQ(stalled_status->max_bytes(), kStalledMaxBytes);
  // Delivered counts what was queued for the connection (PublishResult's
  // meaning), written or not; each message was that or dropped.
  EXPECT_EQ(stalled_status->delivered() + stalled_status->dropped(),
            static_cast<uint64_t>(kMessages));
  EXPECT_LE(stalled_status->queued_messages(), stalled_status->delivered());
  absl::StatusOr<v1::SubscriptionStatus> steady_status = FindSubscription(
      *status, steady->connection_id(), steady_subscription->id());
  ASSERT_THAT(steady_status, IsOk());
  EXPECT_EQ(steady_status->delivered(), static_cast<uint64_t>(kMessages));
  EXPECT_EQ(steady_status->dropped(), 0u);
  EXPECT_GE(status->messages_dropped(), stalled_status->dropped());
  EXPECT_GE(status->publishes(), static_cast<uint64_t>(kMessages));
}

}  // namespace
}  // namespace switchboard
