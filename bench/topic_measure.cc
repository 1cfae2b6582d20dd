// SPDX-License-Identifier: MIT
#include "bench/topic_measure.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace switchboard::bench {
namespace {

// How long a paced publisher sleeps when it is ahead. The kernel's timer
// slack (50 us by default) lengthens it; messages due meanwhile go in one
// burst.
constexpr absl::Duration kPaceSleep = absl::Microseconds(50);

}  // namespace

uint64_t MessagesDue(int64_t rate, int64_t elapsed_ns) {
  if (rate <= 0 || elapsed_ns <= 0) return 0;
  return static_cast<uint64_t>(static_cast<double>(elapsed_ns) * 1e-9 *
                               static_cast<double>(rate));
}

ClientReport PublishMessages(const MeasureOptions& options,
                             TopicPublisher& publisher) {
  ClientReport report;
  const size_t size = TopicMessageBytes(options.workload);
  std::string message(size, '\0');
  uint64_t sequence = 0;
  // One message, stamped when made: its latency includes any time it waits
  // in the publisher's own batch.
  auto publish = [&](TopicPhase phase, int64_t now) {
    WriteTopicMessage({++sequence, now, phase}, message.data(), size);
    absl::Status status = publisher.Publish(message);
    ++report.messages;  // a failed publish is published and lost
    if (!status.ok()) report.error = status.ToString();
    return status.ok();
  };

  const int64_t begin = MonotonicNanos();
  // The time now, once the next message is due.
  auto next_due = [&] {
    int64_t now = MonotonicNanos();
    if (options.rate <= 0) return now;
    while (MessagesDue(options.rate, now - begin) <= sequence) {
      absl::SleepFor(kPaceSleep);
      now = MonotonicNanos();
    }
    return now;
  };

  const int64_t warmup_end = begin + absl::ToInt64Nanoseconds(options.warmup);
  int64_t now = next_due();
  do {
    if (!publish(TopicPhase::kWarmup, now)) return report;
    now = next_due();
  } while (now < warmup_end);

  report.start_ns = now;
  const int64_t duration = absl::ToInt64Nanoseconds(options.duration);
  while (options.ops > 0 ? report.ops < static_cast<uint64_t>(options.ops)
                         : now - report.start_ns < duration) {
    if (!publish(TopicPhase::kMeasured, now)) return report;
    ++report.ops;
    now = next_due();
  }
  report.elapsed_ns = now - report.start_ns;
  WriteTopicMessage({++sequence, now, TopicPhase::kEnd}, message.data(), size);
  if (absl::Status s = publisher.PublishLast(message); !s.ok()) {
    report.error = s.ToString();
  }
  return report;
}

SubscriberTally::SubscriberTally(Workload workload)
    : message_bytes_(TopicMessageBytes(workload)) {}

bool SubscriberTally::Receive(absl::string_view message) {
  const int64_t now = MonotonicNanos();
  std::optional<TopicStamp> stamp = ReadTopicMessage(message, message_bytes_);
  if (!stamp || stamp->sequence <= last_sequence_) {
    if (rejected_++ == 0) {
      std::fprintf(stderr, "switchboard-bench subscriber: %s\n",
                   stamp
                       ? absl::StrCat("message ", stamp->sequence,
                                      " came after ", last_sequence_)
                             .c_str()
                       : absl::StrCat("a damaged message (", message.size(),
                                      " bytes) after message ", last_sequence_)
                             .c_str());
    }
    return false;
  }
  last_sequence_ = stamp->sequence;
  if (stamp->phase == TopicPhase::kEnd) {
    ended_ = true;
    return true;
  }
  ++report_.messages;
  if (stamp->phase == TopicPhase::kMeasured) {
    ++report_.ops;
    report_.end_ns = now;
    report_.latencies.Record(now - stamp->sent_ns);
  }
  return false;
}

absl::StatusOr<ClientReport> CombineTopicReports(
    const ClientReport& publisher,
    const std::vector<ClientReport>& subscribers) {
  ClientReport round;
  uint64_t received = 0;
  int64_t end_ns = publisher.start_ns;
  for (const ClientReport& subscriber : subscribers) {
    received += subscriber.messages;
    round.dropped += subscriber.dropped;
    round.ops += subscriber.ops;
    if (subscriber.ops > 0) end_ns = std::max(end_ns, subscriber.end_ns);
    round.latencies.Merge(subscriber.latencies);
  }
  const uint64_t expected = publisher.messages * subscribers.size();
  if (received > expected) {
    return absl::InternalError(
        absl::StrCat(subscribers.size(), " subscribers received ", received,
                     " messages of ", publisher.messages, " published"));
  }
  round.lost = expected - received;
  round.elapsed_ns = end_ns - publisher.start_ns;
  return round;
}

}  // namespace switchboard::bench
