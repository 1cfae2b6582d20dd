// SPDX-License-Identifier: MIT
//
// LatencyHistogram: every latency of a topic workload, in fixed memory. A
// subscriber receives millions of messages a second on the floors, too many
// to keep one number per message as the call workloads do, so it counts each
// latency into a log-linear bucket (exact below 128 ns, then 128 buckets per
// power of two: under 0.8% relative error) and sends the counts to the
// coordinator, which merges the subscribers' histograms and reads the
// percentiles from them.
#ifndef SWITCHBOARD_BENCH_LATENCY_HISTOGRAM_H_
#define SWITCHBOARD_BENCH_LATENCY_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace switchboard::bench {

class LatencyHistogram {
 public:
  LatencyHistogram();
  // Takes counts that counts() returned. False (and an empty histogram) if
  // they have the wrong length.
  bool Assign(std::vector<uint64_t> counts);

  // Counts one latency; negative values count as 0.
  void Record(int64_t nanoseconds) { ++counts_[BucketOf(nanoseconds)]; }
  void Merge(const LatencyHistogram& other);

  uint64_t total() const;
  // Nearest rank: the middle of the bucket that holds the smallest latency
  // at least `fraction` of all latencies do not exceed. 0 if empty.
  double Percentile(double fraction) const;

  const std::vector<uint64_t>& counts() const { return counts_; }

 private:
  static size_t BucketOf(int64_t nanoseconds);

  std::vector<uint64_t> counts_;
};

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_LATENCY_HISTOGRAM_H_
