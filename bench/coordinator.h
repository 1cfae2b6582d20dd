// SPDX-License-Identifier: MIT
//
// The coordinator: the bench process the user starts. It starts every other
// process (re-executions of the bench in a role, and for switchboard the
// broker), runs the systems in alternating rounds, collects the clients'
// reports, and prints the figures. It never starts a thread, so fork() is safe.
#ifndef SWITCHBOARD_BENCH_COORDINATOR_H_
#define SWITCHBOARD_BENCH_COORDINATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bench/workload.h"

namespace switchboard::bench {

struct BenchOptions {
  std::vector<Workload> workloads;
  std::vector<System> systems;  // in the order rounds run them
  int64_t rounds = 5;
  absl::Duration warmup = absl::Milliseconds(200);
  absl::Duration duration = absl::Seconds(2);  // per round per system
  int64_t ops = 0;       // > 0: this many calls per round instead of `duration`
  int64_t rate = 0;      // > 0: topic publishers paced to this many msgs/s
  bool pin = false;      // every process on CPU 0
  bool verbose = false;  // per-round figures too
  std::string self_path;    // this executable, re-executed for every role
  std::string broker_path;  // switchboardd; needed if systems has switchboard
};

// Runs all rounds and prints, on stdout, per-round lines (if verbose), one
// RESULT line per system and workload, and the summary; progress and
// problems go to stderr. A round that fails is reported and left out of the
// medians. Errors: kCancelled on SIGINT/SIGTERM; kFailedPrecondition if
// --pin cannot be honoured; those of BrokerProcess::Start(); kUnavailable if
// some system and workload got no result at all.
absl::Status RunBench(const BenchOptions& options);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_COORDINATOR_H_
