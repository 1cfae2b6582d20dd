// SPDX-License-Identifier: MIT
#include "bench/latency_histogram.h"

#include <bit>
#include <cmath>
#include <utility>

namespace switchboard::bench {
namespace {

// Values below 2^kSubBits are their own bucket; above, each power of two is
// split into 2^kSubBits buckets by the bits that follow the leading one.
constexpr int kSubBits = 7;
constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBits;
// int64 latencies have at most 63 significant bits.
constexpr size_t kBucketCount = (63 - kSubBits + 1) * kSubBuckets;

// The smallest value of bucket `index`, and the bucket's width.
std::pair<double, double> BucketRange(size_t index) {
  if (index < kSubBuckets) return {static_cast<double>(index), 1.0};
  size_t exponent = index / kSubBuckets + kSubBits - 1;
  uint64_t sub = index % kSubBuckets;
  double width = std::ldexp(1.0, static_cast<int>(exponent) - kSubBits);
  return {std::ldexp(1.0, static_cast<int>(exponent)) + sub * width, width};
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBucketCount, 0) {}

size_t LatencyHistogram::BucketOf(int64_t nanoseconds) {
  if (nanoseconds < 0) return 0;
  auto value = static_cast<uint64_t>(nanoseconds);
  if (value < kSubBuckets) return value;
  int exponent = std::bit_width(value) - 1;  // >= kSubBits
  uint64_t sub = (value >> (exponent - kSubBits)) & (kSubBuckets - 1);
  return (exponent - kSubBits + 1) * kSubBuckets + sub;
}

bool LatencyHistogram::Assign(std::vector<uint64_t> counts) {
  if (counts.size() != kBucketCount) {
    counts_.assign(kBucketCount, 0);
    return false;
  }
  counts_ = std::move(counts);
  return true;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
}

uint64_t LatencyHistogram::total() const {
  uint64_t sum = 0;
  for (uint64_t count : counts_) sum += count;
  return sum;
}

double LatencyHistogram::Percentile(double fraction) const {
  uint64_t all = total();
  if (all == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(fraction * all));
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      auto [low, width] = BucketRange(i);
      return low + (width - 1) / 2;
    }
  }
  return 0;
}

}  // namespace switchboard::bench
