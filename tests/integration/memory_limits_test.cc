// SPDX-License-Identifier: MIT
//
// The broker's memory under floods, measured on the real process:
//   - after a flood ends, it gives its memory back: a client that sends
//     PINGs and never reads a reply makes the broker queue replies up to
//     the client's quota, and once it leaves, the broker's resident memory
//     comes back near where it was (server::HeapTrimmer);
//   - 20 subscriber connections that never read, fed 1 MiB messages, cost
//     about their uid's quota of queued output (--max-queued-bytes-per-uid),
//     not 20 times what each subscription asked for, and nothing once they
//     leave;
//   - under an address-space limit, a storm of large frames that cannot
//     all fit costs some of them their connection (RESOURCE_EXHAUSTED
//     "cannot allocate"), never the broker its life.
//
// Not built with sanitizers: their allocators keep freed memory in
// quarantine on purpose and reserve terabytes of address space for their
// shadow, so neither figure means anything for a sanitized broker.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/payload.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/topic_frames.h"
#include "tests/testing/wait_for.h"
#include "wire/frame.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerOptions;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::ConnectStalledSubscriber;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::ResidentBytes;
using ::switchboard::testing::Transport;
using ::switchboard::testing::WaitFor;

constexpr absl::Duration kTimeout = absl::Seconds(10);
constexpr uint64_t kMiB = uint64_t{1} << 20;
// The flooding client's quota for replies queued for it.
constexpr uint64_t kQueueQuota = 64 * kMiB;
// What may stay resident once the flood is gone: allocator caches and
// the pages the broker's tables grew into, not the flood's replies.
constexpr uint64_t kSlack = 24 * kMiB;

// Sends PINGs on `raw` until the broker stops reading it (its reply queue
// is over the quota) and the socket stays full for a while.
void FloodWithPings(RawConnection& raw) {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kPing;
  std::string batch;
  for (uint64_t id = 1; id <= 4096; ++id) {
    prefix.request_id = id;
    absl::StrAppend(&batch, wire::Frame::Build(prefix, "", "").bytes());
  }
  // Non-blocking throughout: once the broker stops reading, a blocking
  // send would wait for ever. The last batch may end inside a frame,
  // which the broker discards with the connection.
  size_t offset = 0;
  absl::Time last_progress = absl::Now();
  while (absl::Now() - last_progress < absl::Milliseconds(500)) {
    const ssize_t n =
        ::send(raw.fd(), batch.data() + offset, batch.size() - offset,
               MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      last_progress = absl::Now();
      offset = (offset + static_cast<size_t>(n)) % batch.size();
      continue;
    }
    ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EINTR))
        << "send: " << errno;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

// Expects the broker's resident memory to come back within kSlack of
// `baseline` (from `peak`) within 20 s; returns the last figure read.
uint64_t ExpectResidentBackNear(const BrokerProcess& broker, uint64_t baseline,
                                uint64_t peak) {
  uint64_t now = peak;
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<uint64_t> resident = ResidentBytes(broker.pid());
        now = resident.ok() ? *resident : peak;
        return now <= baseline + kSlack;
      },
      absl::Seconds(20)))
      << "resident " << now / kMiB << " MiB; " << baseline / kMiB
      << " MiB before the flood, " << peak / kMiB << " MiB at its peak";
  return now;
}

TEST(MemoryReturnTest, ANeverReadingPingFloodLeavesNothingBehind) {
  BrokerProcess broker(Transport::kUnix,
                       {absl::StrCat("--max-queued-bytes=", kQueueQuota)});
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> watcher = ConnectOrDie(broker, "watcher");
  ASSERT_THAT(watcher->Ping(kTimeout), IsOk());
  absl::StatusOr<uint64_t> baseline = ResidentBytes(broker.pid());
  ASSERT_THAT(baseline, IsOk());

  uint64_t peak = 0;
  {
    absl::StatusOr<RawConnection> raw =
        RawConnection::Connect(broker.address());
    ASSERT_THAT(raw, IsOk());
    ASSERT_THAT(raw->Handshake(""), IsOk());
    FloodWithPings(*raw);
    absl::StatusOr<uint64_t> flooded = ResidentBytes(broker.pid());
    ASSERT_THAT(flooded, IsOk());
    peak = *flooded;
    // The flood did cost something: at least the quota's worth of replies.
    ASSERT_GT(peak, *baseline + kQueueQuota / 2)
        << "baseline " << *baseline / kMiB << " MiB";
  }  // the flooder leaves

  const uint64_t now = ExpectResidentBackNear(broker, *baseline, peak);
  EXPECT_THAT(watcher->Ping(kTimeout), IsOk());
  std::cout << "broker resident memory: " << *baseline / kMiB
            << " MiB before the flood, " << peak / kMiB << " MiB at its peak, "
            << now / kMiB << " MiB after\n";
}

// Connections each sending one CALL of kStormPayload bytes to a name
// nobody owns, at once: more than the broker's address space can hold.
constexpr int kStormConnections = 20;
constexpr uint32_t kStormPayload = 60 << 20;

TEST(AllocationStormTest,
     LargeFramesPastTheAddressSpaceCostConnectionsNotTheBroker) {
  BrokerOptions options;
  options.prlimit = {absl::StrCat("--as=", uint64_t{1} << 30)};
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> watcher = ConnectOrDie(broker, "watcher");

  v1::Header header;
  header.mutable_call()->set_service("test.nobody");
  header.mutable_call()->set_method("Take");
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kCall;
  prefix.request_id = 1;
  prefix.payload_length = kStormPayload;
  const std::string head = wire::EncodeHead(prefix, header.SerializeAsString());
  const std::string chunk(1 << 20, 's');

  std::vector<RawConnection> storm;
  for (int i = 0; i < kStormConnections; ++i) {
    absl::StatusOr<RawConnection> raw =
        RawConnection::Connect(broker.address());
    ASSERT_THAT(raw, IsOk());
    ASSERT_THAT(raw->Handshake(""), IsOk());
    storm.push_back(*std::move(raw));
  }
  // Every frame but its last byte first, all at once, so the broker holds
  // all of them together: more than its address space allows.
  std::vector<std::thread> senders;
  for (RawConnection& raw : storm) {
    senders.emplace_back([&raw, &head, &chunk] {
      // A connection the broker closes stops taking bytes: that is fine.
      if (!raw.Send(head).ok()) return;
      for (uint32_t sent = 0; sent < kStormPayload; sent += chunk.size()) {
        const size_t n =
            std::min<size_t>(chunk.size(), kStormPayload - 1 - sent);
        if (!raw.Send(absl::string_view(chunk).substr(0, n)).ok()) return;
      }
    });
  }
  for (std::thread& sender : senders) sender.join();
  for (RawConnection& raw : storm) (void)raw.Send("s");

  // Each connection got its answer: NOT_FOUND for a call that fit, ERROR
  // RESOURCE_EXHAUSTED for one that did not.
  int refused = 0;
  int answered = 0;
  for (RawConnection& raw : storm) {
    absl::StatusOr<wire::Frame> frame = raw.ReadFrame(kTimeout);
    ASSERT_THAT(frame, IsOk());
    absl::StatusOr<v1::Header> parsed = frame->ParseHeader();
    ASSERT_THAT(parsed, IsOk());
    if (frame->kind() == wire::Kind::kError) {
      EXPECT_EQ(parsed->error().code(),
                static_cast<int>(absl::StatusCode::kResourceExhausted))
          << parsed->error().message();
      EXPECT_NE(parsed->error().message().find("cannot allocate"),
                std::string::npos)
          << parsed->error().message();
      ++refused;
    } else {
      ASSERT_EQ(frame->kind(), wire::Kind::kReply);
      EXPECT_EQ(parsed->reply().code(),
                static_cast<int>(absl::StatusCode::kNotFound));
      ++answered;
    }
  }
  std::cout << "storm: " << answered << " calls answered, " << refused
            << " connections refused for memory\n";
  EXPECT_GT(refused, 0) << "the storm fit: the test proves nothing";
  EXPECT_GT(answered, 0) << "no large call got through at all";
  // The broker lives and serves.
  EXPECT_THAT(watcher->Ping(kTimeout), IsOk());
  std::unique_ptr<Client> newcomer = ConnectOrDie(broker, "newcomer");
  EXPECT_THAT(newcomer->Ping(kTimeout), IsOk());
}

TEST(MemoryReturnTest, StalledSubscribersCostTheirUidsQuotaAndNothingAfter) {
  constexpr uint64_t kUidQuota = 64 * kMiB;
  BrokerProcess broker(
      Transport::kUnix,
      {absl::StrCat("--max-queued-bytes-per-uid=", kUidQuota)});
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> publisher = ConnectOrDie(broker, "publisher");
  ASSERT_THAT(publisher->Ping(kTimeout), IsOk());
  absl::StatusOr<uint64_t> baseline = ResidentBytes(broker.pid());
  ASSERT_THAT(baseline, IsOk());

  uint64_t peak = *baseline;
  {
    std::vector<RawConnection> stalled;
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<RawConnection> subscriber = ConnectStalledSubscriber(
          broker.address(), "", "flood.frames", 256 * kMiB);
      ASSERT_THAT(subscriber, IsOk());
      stalled.push_back(*std::move(subscriber));
    }
    // Each message is different, so that sharing one copy among the
    // subscribers hides nothing.
    for (int sent = 0; sent < 200; ++sent) {
      std::string payload(kMiB, static_cast<char>('a' + sent % 26));
      ASSERT_THAT(publisher->Publish("flood.frames", Payload(payload)), IsOk());
      if (sent % 10 == 9) {
        ASSERT_THAT(publisher->Ping(kTimeout), IsOk());
        absl::StatusOr<uint64_t> resident = ResidentBytes(broker.pid());
        ASSERT_THAT(resident, IsOk());
        peak = std::max(peak, *resident);
      }
    }
    // What the subscriptions asked for is 20 x 200 MiB; the uid's quota
    // and a fixed allowance for the publisher's frames in flight is what
    // the broker may spend.
    EXPECT_LT(peak, *baseline + kUidQuota + 2 * kSlack)
        << "baseline " << *baseline / kMiB << " MiB";
  }  // the subscribers leave

  const uint64_t now = ExpectResidentBackNear(broker, *baseline, peak);
  std::cout << "broker resident memory under 20 stalled subscribers: "
            << *baseline / kMiB << " MiB before, " << peak / kMiB
            << " MiB at the peak, " << now / kMiB << " MiB after\n";
}

}  // namespace
}  // namespace switchboard
