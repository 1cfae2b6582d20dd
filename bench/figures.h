// SPDX-License-Identifier: MIT
//
// From raw latencies to the figures the bench prints: per-round percentiles
// and rates, their medians over rounds, and the RESULT line format that
// DESIGN.md fixes:
//   RESULT system=switchboard workload=rtt p50_us=… p99_us=… p999_us=… ops_s=…
//   lost=0
#ifndef SWITCHBOARD_BENCH_FIGURES_H_
#define SWITCHBOARD_BENCH_FIGURES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "bench/workload.h"

namespace switchboard::bench {

struct Figures {
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double ops_s = 0;
  double mb_s = 0;  // reply megabytes (10^6 bytes) per second
  uint64_t lost = 0;
};

// Figures of one round. Percentiles are nearest-rank over the good calls
// (topic workloads: over the measured messages received, from the report's
// histogram); ops_s counts good calls (messages received) over the measured
// time. `report` must hold at least one latency.
Figures FiguresOf(const ClientReport& report, Workload workload);

// The median of each figure over `rounds` (the mean of the middle two for an
// even count), except `lost`, which is the total. `rounds` is not empty.
Figures MedianOf(const std::vector<Figures>& rounds);

double Median(std::vector<double> values);

// "system=… workload=… p50_us=… p99_us=… p999_us=… ops_s=… [mb_s=…] lost=…",
// mb_s for bigframe only. RESULT and per-round lines add their prefix.
std::string FormatFigures(System system, Workload workload,
                          const Figures& figures);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_FIGURES_H_
