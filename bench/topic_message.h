// SPDX-License-Identifier: MIT
//
// The messages the topic workloads (pubsub, fanout) publish, the same bytes
// in every system. Each carries, in host order (every process is this
// program on this machine):
//
//   bytes 0-7    sequence number, from 1, one per message published
//   bytes 8-15   when the publisher made it, CLOCK_MONOTONIC nanoseconds
//   bytes 16-23  its phase: warm-up, measured, or the end marker
//   the rest     a fill derived from the sequence number
//
// so a subscriber can time each message from publish to receipt, see gaps
// and reordering, and check every byte. The end marker follows the last
// message and tells the subscriber that the publisher is done.
#ifndef SWITCHBOARD_BENCH_TOPIC_MESSAGE_H_
#define SWITCHBOARD_BENCH_TOPIC_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace switchboard::bench {

enum class TopicPhase : uint64_t {
  kWarmup = 1,    // counted for `lost`, not timed
  kMeasured = 2,  // counted and timed
  kEnd = 3,       // the end marker; not a message of the workload
};

struct TopicStamp {
  uint64_t sequence = 0;
  int64_t sent_ns = 0;
  TopicPhase phase = TopicPhase::kMeasured;
};

inline constexpr size_t kTopicStampBytes = 24;

// CLOCK_MONOTONIC in nanoseconds: comparable between processes.
int64_t MonotonicNanos();

// Writes the message for `stamp` into `out`, `size` bytes (at least
// kTopicStampBytes, at most 256 + kTopicStampBytes).
void WriteTopicMessage(const TopicStamp& stamp, char* out, size_t size);

// The stamp of `message` if it is exactly what WriteTopicMessage() wrote for
// that stamp with `size`; nullopt for anything else (wrong size, a damaged
// byte, an unknown phase). Reads every byte.
std::optional<TopicStamp> ReadTopicMessage(absl::string_view message,
                                           size_t size);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_TOPIC_MESSAGE_H_
