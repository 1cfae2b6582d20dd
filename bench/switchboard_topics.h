// SPDX-License-Identifier: MIT
//
// The switchboard system of the topic workloads (pubsub, fanout): a
// publisher and subscribers that talk through a running switchboardd using
// only the public client library, as applications do. The publisher calls
// Client::Publish() once per message (the library batches them) and
// publishes the end marker with Client::PublishConfirmed(), so that the
// broker has taken every message before the publisher reports. Each
// subscriber process holds one Client with one subscription, whose queue is
// as large as the broker allows (65,536 messages, and as many bytes as
// --max-queued-bytes) with policy drop-oldest: a subscriber that keeps up
// loses nothing, and one that does not loses the oldest messages, never the
// end marker. Whatever the broker drops shows up in `lost`.
#ifndef SWITCHBOARD_BENCH_SWITCHBOARD_TOPICS_H_
#define SWITCHBOARD_BENCH_SWITCHBOARD_TOPICS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/topic_measure.h"
#include "bench/workload.h"

namespace switchboard::bench {

// Connects a publisher of `workload`'s topic to the broker at `address`.
// Errors: those of Client::Connect().
absl::StatusOr<std::unique_ptr<TopicPublisher>> ConnectSwitchboardPublisher(
    absl::string_view address, Workload workload);

// Role "subscriber" of switchboard: connects to `address`, subscribes to
// `workload`'s topic, prints "ready" once the broker confirmed the
// subscription, and counts messages until the end marker, or until none
// arrived for a drain period (the broker dropped the rest), then sends its
// report on stdout. Returns the exit code.
int RunSwitchboardSubscriber(Workload workload, absl::string_view address);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_SWITCHBOARD_TOPICS_H_
