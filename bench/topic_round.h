// SPDX-License-Identifier: MIT
//
// One round of a topic workload (pubsub, fanout) for one system, as the
// coordinator runs it: start the subscribers (each ready once subscribed),
// for floor-relay the relay, then the publisher; collect the publisher's
// report and then every subscriber's (each ends at the publisher's end
// marker, or, through the broker, after a drain period with no message);
// stop them all; and sum the reports (CombineTopicReports).
#ifndef SWITCHBOARD_BENCH_TOPIC_ROUND_H_
#define SWITCHBOARD_BENCH_TOPIC_ROUND_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bench/child_process.h"
#include "bench/measure.h"
#include "bench/workload.h"

namespace switchboard::bench {

struct TopicRound {
  Workload workload = Workload::kPubSub;
  System system = System::kFloorDirect;
  // --address=… for switchboard, empty for the floors.
  std::string address_flag;
  // --warmup=, --duration= and --ops= for the publisher.
  std::vector<std::string> measure_flags;
  // How long the publisher may take to report, and then each subscriber.
  absl::Duration report_timeout;
  absl::Duration stop_grace;
  // Starts the bench in `role` with `flags`, handing down `fds` ({fd here,
  // fd in the child}); with `wait_ready`, returns once it said "ready".
  std::function<absl::StatusOr<ChildProcess>(
      absl::string_view role, std::vector<std::string> flags,
      std::vector<std::pair<int, int>> fds, bool wait_ready)>
      start_role;
  // Notes a problem that does not void the round (a relay's bad exit).
  std::function<void(const absl::Status&)> note_problem;
};

// Runs the round. The report's `error` says, naming the process, why some
// process stopped early. Errors: starting a process or collecting a report
// failed; kCancelled if interrupted; kInternal from CombineTopicReports.
absl::StatusOr<ClientReport> RunTopicRound(const TopicRound& round);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_TOPIC_ROUND_H_
