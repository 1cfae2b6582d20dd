// SPDX-License-Identifier: MIT
//
// What `switchboard top` shows, apart from the terminal: two consecutive
// samples of the broker (GetStatus and ListConnections) become one snapshot
// of rates, the difference of the counters over the time between the
// samples, rendered as text or as one JSON object.
#ifndef SWITCHBOARD_CLI_TOP_VIEW_H_
#define SWITCHBOARD_CLI_TOP_VIEW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::cli {

// One sample of the broker's counters.
struct TopSample {
  absl::Time time;
  v1::BrokerStatus status;
  v1::ConnectionList connections;
};

struct ConnectionRates {
  const v1::ConnectionInfo* info = nullptr;  // points into the newer sample
  double frames_in_per_s = 0;
  double frames_out_per_s = 0;
  double bytes_in_per_s = 0;
  double bytes_out_per_s = 0;
};

struct TopSnapshot {
  const TopSample* sample = nullptr;  // the newer sample
  double seconds = 0;                 // between the samples; 0: first one
  double frames_in_per_s = 0;
  double frames_out_per_s = 0;
  double bytes_in_per_s = 0;
  double bytes_out_per_s = 0;
  double dropped_per_s = 0;
  // Busiest first (bytes, then frames, in and out), then by id.
  std::vector<ConnectionRates> connections;
};

// The rates from `older` to `newer`; with `older` null (the first sample),
// every rate is 0. A connection new since `older` counts from 0. Both
// samples must outlive the snapshot.
TopSnapshot ComputeSnapshot(const TopSample* older, const TopSample& newer);

// The screen: a summary and a table, at most `max_rows` connection rows
// (0: all), without escape sequences.
std::string RenderTopText(const TopSnapshot& snapshot, int max_rows);

// One line of JSON (docs/CLI.md, `top`).
std::string RenderTopJson(const TopSnapshot& snapshot);

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_TOP_VIEW_H_
