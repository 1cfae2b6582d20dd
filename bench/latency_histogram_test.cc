// SPDX-License-Identifier: MIT
#include "bench/latency_histogram.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::bench {
namespace {

TEST(LatencyHistogramTest, LatenciesBelow128NanosecondsAreExact) {
  LatencyHistogram histogram;
  for (int64_t ns : {3, 5, 100, 127}) histogram.Record(ns);
  EXPECT_EQ(histogram.total(), 4u);
  EXPECT_EQ(histogram.Percentile(0.25), 3);
  EXPECT_EQ(histogram.Percentile(0.50), 5);
  EXPECT_EQ(histogram.Percentile(0.75), 100);
  EXPECT_EQ(histogram.Percentile(1.0), 127);
}

TEST(LatencyHistogramTest, LargeLatenciesAreWithinOnePercent) {
  for (int64_t ns :
       {int64_t{128}, int64_t{1000}, int64_t{43'117}, int64_t{1'234'567},
        int64_t{2'000'000'000}, int64_t{90'000'000'000}}) {
    LatencyHistogram histogram;
    histogram.Record(ns);
    EXPECT_NEAR(histogram.Percentile(0.5), static_cast<double>(ns),
                0.008 * static_cast<double>(ns))
        << ns;
  }
}

TEST(LatencyHistogramTest, PercentilesAreNearestRank) {
  LatencyHistogram histogram;
  for (int64_t us = 1; us <= 1000; ++us) histogram.Record(us * 1000);
  EXPECT_NEAR(histogram.Percentile(0.50), 500'000, 0.008 * 500'000);
  EXPECT_NEAR(histogram.Percentile(0.99), 990'000, 0.008 * 990'000);
  EXPECT_NEAR(histogram.Percentile(0.999), 999'000, 0.008 * 999'000);
}

TEST(LatencyHistogramTest, NegativeLatenciesCountAsZero) {
  LatencyHistogram histogram;
  histogram.Record(-5);
  EXPECT_EQ(histogram.Percentile(0.5), 0);
}

TEST(LatencyHistogramTest, EmptyHistogramHasZeroPercentiles) {
  EXPECT_EQ(LatencyHistogram().Percentile(0.99), 0);
}

TEST(LatencyHistogramTest, MergeAddsTheCounts) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.Record(10);
  b.Record(20);
  b.Record(30);
  a.Merge(b);
  EXPECT_EQ(a.total(), 3u);
  EXPECT_EQ(a.Percentile(1.0), 30);
}

TEST(LatencyHistogramTest, AssignTakesCountsOfTheRightLengthOnly) {
  LatencyHistogram source;
  source.Record(77);
  LatencyHistogram copy;
  EXPECT_TRUE(copy.Assign(source.counts()));
  EXPECT_EQ(copy.Percentile(0.5), 77);
  EXPECT_FALSE(copy.Assign(std::vector<uint64_t>(3, 1)));
  EXPECT_EQ(copy.total(), 0u);
}

}  // namespace
}  // namespace switchboard::bench
