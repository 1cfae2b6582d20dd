// SPDX-License-Identifier: MIT
#include "bench/switchboard_topics.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/child_process.h"
#include "switchboard/client.h"
#include "switchboard/message.h"

namespace switchboard::bench {
namespace {

// The largest subscription queue the broker grants (PROTOCOL.md 5.5); a
// larger request is lowered to it.
constexpr uint32_t kQueueMessages = 65536;
// How long a subscriber waits for another message before it decides that
// the broker dropped the rest, end marker included. Through a drop-oldest
// queue the end marker always arrives, so this only ends a broken round.
constexpr absl::Duration kDrainIdle = absl::Seconds(5);
// Generous: the broker confirms the end marker once it has routed every
// message before it.
constexpr absl::Duration kConfirmTimeout = absl::Seconds(30);

const char* TopicOf(Workload workload) {
  return workload == Workload::kFanout ? "bench.fanout" : "bench.pubsub";
}

class SwitchboardTopicPublisher : public TopicPublisher {
 public:
  SwitchboardTopicPublisher(std::unique_ptr<Client> client, Workload workload)
      : client_(std::move(client)), topic_(TopicOf(workload)) {}

  // TopicPublisher
  absl::Status Publish(absl::string_view message) override {
    return client_->Publish(topic_, Payload::Copy(message));
  }
  absl::Status PublishLast(absl::string_view end_marker) override {
    absl::StatusOr<PublishResult> result = client_->PublishConfirmed(
        topic_, Payload::Copy(end_marker), "", kConfirmTimeout);
    return result.status();
  }

 private:
  std::unique_ptr<Client> client_;
  const char* topic_;
};

// What the subscription's callbacks share with the main thread. The tally
// and the drop figures are touched only on the dispatch thread, and read by
// the main thread only after the Client (and so that thread) is gone.
class SubscriberState {
 public:
  explicit SubscriberState(Workload workload) : tally_(workload) {}

  // On the dispatch thread.
  void OnMessage(const Message& message) {
    bool end = tally_.Receive(message.payload);
    // One writer: a plain store, no locked instruction per message.
    seen_.store(seen_.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
    if (end) {
      absl::MutexLock lock(&mutex_);
      ended_ = true;
    }
  }
  void OnDrop(const DropReport& report) { dropped_ = report.total; }

  // Blocks until the end marker arrived (true), or until no message arrived
  // for kDrainIdle (false). The idle time is read on the monotonic clock, so
  // a step of the wall clock cannot end the wait early.
  bool AwaitEnd() {
    uint64_t last_seen = 0;
    int64_t last_progress = MonotonicNanos();
    absl::MutexLock lock(&mutex_);
    while (!ended_) {
      mutex_.AwaitWithTimeout(absl::Condition(&ended_), absl::Seconds(1));
      uint64_t seen = seen_.load(std::memory_order_relaxed);
      if (seen != last_seen) {
        last_seen = seen;
        last_progress = MonotonicNanos();
      } else if (MonotonicNanos() - last_progress >=
                 absl::ToInt64Nanoseconds(kDrainIdle)) {
        break;
      }
    }
    return ended_;
  }

  const SubscriberTally& tally() const { return tally_; }
  uint64_t seen() const { return seen_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_; }

 private:
  SubscriberTally tally_;
  std::atomic<uint64_t> seen_{0};
  uint64_t dropped_ = 0;
  absl::Mutex mutex_;
  bool ended_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TopicPublisher>> ConnectSwitchboardPublisher(
    absl::string_view address, Workload workload) {
  ConnectOptions options;
  options.client_name = "switchboard-bench-publisher";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(address, options);
  if (!client.ok()) return client.status();
  return std::make_unique<SwitchboardTopicPublisher>(*std::move(client),
                                                     workload);
}

int RunSwitchboardSubscriber(Workload workload, absl::string_view address) {
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "switchboard-bench subscriber: %s\n",
                 status.ToString().c_str());
    return 1;
  };
  ConnectOptions connect;
  connect.client_name = "switchboard-bench-subscriber";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(address, connect);
  if (!client.ok()) return fail(client.status());

  SubscriberState state(workload);
  SubscribeOptions options;
  options.max_messages = kQueueMessages;
  options.max_bytes = std::numeric_limits<uint64_t>::max();
  options.policy = OverflowPolicy::kDropOldest;
  options.on_drop = [&state](const DropReport& report) {
    state.OnDrop(report);
  };
  // Kept to the end: the subscription ends with the client, reset below.
  absl::StatusOr<switchboard::Subscription> subscription = (*client)->Subscribe(
      TopicOf(workload),
      [&state](const Message& message) { state.OnMessage(message); }, options);
  if (!subscription.ok()) return fail(subscription.status());
  if (absl::Status s = AnnounceReady(); !s.ok()) return fail(s);

  bool ended = state.AwaitEnd();
  client->reset();  // joins the dispatch thread: the tally is ours now
  if (!ended) {
    std::fprintf(stderr,
                 "switchboard-bench subscriber: no end marker, and no message "
                 "for %s after %llu messages; counting what arrived\n",
                 absl::FormatDuration(kDrainIdle).c_str(),
                 static_cast<unsigned long long>(state.seen()));
  }
  ClientReport report = state.tally().report();
  report.dropped = state.dropped();
  if (absl::Status s = SendReport(report); !s.ok()) return fail(s);
  return 0;
}

}  // namespace switchboard::bench
