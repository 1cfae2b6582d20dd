// SPDX-License-Identifier: MIT
//
// The raw-socket floors of the topic workloads (pubsub, fanout). Messages are
// framed as in floor.h (a 4-byte length in host order, then the bytes) on
// blocking Unix stream sockets. The publisher batches them: it fills a 64 KiB
// buffer and writes it whole to each of its sockets in turn. floor-direct
// gives the publisher one socket per subscriber; floor-relay gives it one
// socket to the relay (topic_relay.h), which copies every batch to each
// subscriber. A subscriber reads 64 KiB at a time. Nothing is ever dropped:
// a full socket blocks the writer, so the floors always report lost=0.
#ifndef SWITCHBOARD_BENCH_TOPIC_FLOOR_H_
#define SWITCHBOARD_BENCH_TOPIC_FLOOR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "bench/topic_measure.h"
#include "bench/workload.h"

namespace switchboard::bench {

inline constexpr size_t kTopicBatchBytes = 64 * 1024;

// Writes all of `bytes` to the blocking socket `fd`. Errors from write() as
// ErrnoToStatus.
absl::Status WriteAll(int fd, absl::string_view bytes);

// The floors' publisher: batches framed messages and writes each full batch
// (and the last, partial one) to every socket of `fds`, which it does not own.
class FloorTopicPublisher : public TopicPublisher {
 public:
  explicit FloorTopicPublisher(std::vector<int> fds);

  // TopicPublisher
  absl::Status Publish(absl::string_view message) override;
  absl::Status PublishLast(absl::string_view end_marker) override;

 private:
  absl::Status Flush();

  std::vector<int> fds_;
  std::string batch_;  // framed messages not yet written
};

// Role "subscriber" of the floors: reads framed messages from `fd` into a
// SubscriberTally until the end marker, then sends its report on stdout.
// Prints "ready" first. Returns the exit code.
int RunFloorSubscriber(Workload workload, int fd);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_TOPIC_FLOOR_H_
