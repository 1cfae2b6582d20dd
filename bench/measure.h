// SPDX-License-Identifier: MIT
//
// The measuring client that every system shares: it makes one call at a time
// through a Caller, times each call from just before the request is sent until
// the reply has been checked, counts lost calls, and sends the coordinator a
// ClientReport through its stdout.
#ifndef SWITCHBOARD_BENCH_MEASURE_H_
#define SWITCHBOARD_BENCH_MEASURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bench/latency_histogram.h"
#include "bench/workload.h"
#include "switchboard/payload.h"

namespace switchboard::bench {

// One way to make calls: a floor socket or a switchboard::Client.
class Caller {
 public:
  virtual ~Caller() = default;
  // Sends `request` and waits for the reply, which stays valid until the
  // next Call(). A failed call counts as lost. `request` is a Payload so
  // that the client library can send it without a copy inside the timing.
  virtual absl::StatusOr<Payload> Call(const Payload& request) = 0;
  // False once no later call can succeed (the connection is gone).
  virtual bool usable() const = 0;
};

struct MeasureOptions {
  Workload workload = Workload::kRtt;
  // Calls made first and not recorded (at least one): connection set-up,
  // page faults and caches warm up here.
  absl::Duration warmup = absl::Milliseconds(200);
  // How long to measure, unless `ops` > 0: then exactly that many calls.
  absl::Duration duration = absl::Seconds(2);
  int64_t ops = 0;
  // Topic workloads: messages a second the publisher paces itself to, in
  // short bursts (MessagesDue()); 0 publishes flat out.
  int64_t rate = 0;
};

// What a client (or a publisher or subscriber) tells the coordinator after a
// round.
struct ClientReport {
  uint64_t ops = 0;   // calls measured that got the right reply; topics:
                      // measured messages published / received intact
  uint64_t lost = 0;  // calls that failed or got a wrong reply (warm-up too)
  int64_t elapsed_ns = 0;  // from the first measured call to the last reply
  std::string error;       // why the round ended early; empty if it did not
  std::vector<int64_t> latencies_ns;  // one per good call, in call order

  // Topic workloads only. Times are CLOCK_MONOTONIC (MonotonicNanos()), the
  // same clock in every process on the machine.
  uint64_t messages = 0;  // published, or received intact; warm-up included
  int64_t start_ns = 0;   // publisher: when its first measured message left
  int64_t end_ns = 0;     // subscriber: when its last measured message came
  uint64_t dropped = 0;   // subscriber: messages the broker reported dropped
  LatencyHistogram latencies;  // subscriber: one count per measured message
};

// Runs warm-up and measured calls through `caller`.
ClientReport MeasureCalls(const MeasureOptions& options, Caller& caller);

// The report's bytes on the pipe, and back. DecodeReport errors:
// kDataLoss if `bytes` is not a whole report.
std::string EncodeReport(const ClientReport& report);
absl::StatusOr<ClientReport> DecodeReport(absl::string_view bytes);

// Writes EncodeReport(report) to stdout. Errors from write() as
// ErrnoToStatus.
absl::Status SendReport(const ClientReport& report);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_MEASURE_H_
