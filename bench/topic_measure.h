// SPDX-License-Identifier: MIT
//
// The measuring side of the topic workloads (pubsub, fanout), shared by every
// system as measure.h is for calls: the publisher's loop, which publishes
// stamped messages (topic_message.h) as fast as the system takes them, the
// subscriber's tally, which checks, counts and times each message received,
// and the coordinator's sum of one round's reports.
#ifndef SWITCHBOARD_BENCH_TOPIC_MEASURE_H_
#define SWITCHBOARD_BENCH_TOPIC_MEASURE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/measure.h"
#include "bench/topic_message.h"
#include "bench/workload.h"

namespace switchboard::bench {

// One way to publish: floor sockets or a switchboard::Client.
class TopicPublisher {
 public:
  virtual ~TopicPublisher() = default;
  // Publishes `message`, which is valid only during the call. Blocks while
  // the system holds no more (backpressure). An error ends the round.
  virtual absl::Status Publish(absl::string_view message) = 0;
  // Publishes the end marker and returns once everything published has been
  // handed on (written to the sockets, or accepted by the broker).
  virtual absl::Status PublishLast(absl::string_view end_marker) = 0;
};

// How many messages a publisher paced at `rate` messages a second has made
// `elapsed_ns` after it began: the whole messages due by then.
uint64_t MessagesDue(int64_t rate, int64_t elapsed_ns);

// Publishes warm-up messages for `options.warmup`, then measured ones for
// `options.duration` (or exactly `options.ops`), then the end marker. The
// report gives the messages published (warm-up included), the measured ones
// as `ops`, when the first measured one was made (`start_ns`) and the
// measured time; `error` says why it stopped early. With `options.rate`,
// each message waits until it is due: the publisher sleeps while it is
// ahead, so it publishes in bursts of what came due during the sleep.
ClientReport PublishMessages(const MeasureOptions& options,
                             TopicPublisher& publisher);

// A subscriber's count. Not thread-safe: one thread receives.
class SubscriberTally {
 public:
  explicit SubscriberTally(Workload workload);

  // Checks one message, and counts and times it (now) if it is intact and
  // comes after the previous one; a damaged, repeated or reordered message
  // is not counted (it shows in `lost`) and the first such is reported on
  // stderr. Returns true for the end marker.
  bool Receive(absl::string_view message);
  bool ended() const { return ended_; }

  // messages (intact, warm-up included), ops (measured ones), end_ns (when
  // the last measured one came) and their latencies.
  const ClientReport& report() const { return report_; }

 private:
  size_t message_bytes_;
  uint64_t last_sequence_ = 0;
  uint64_t rejected_ = 0;
  bool ended_ = false;
  ClientReport report_;
};

// One round of a topic workload, from its publisher's report and its
// subscribers': `ops` is the measured messages received over all
// subscribers, `elapsed_ns` runs from the publisher's first measured message
// to the last measured message any subscriber received, `lost` is every
// message published (warm-up included) times the subscribers, less those
// received intact, `dropped` sums the drops the broker reported (a part of
// `lost`), and the latencies are merged. Errors: kInternal if the
// subscribers received more than was published.
absl::StatusOr<ClientReport> CombineTopicReports(
    const ClientReport& publisher,
    const std::vector<ClientReport>& subscribers);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_TOPIC_MEASURE_H_
