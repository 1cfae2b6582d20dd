// SPDX-License-Identifier: MIT
#include "bench/figures.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace switchboard::bench {
namespace {

// Nearest-rank percentile of sorted values: the smallest value that at least
// `fraction` of all values do not exceed.
double Percentile(const std::vector<int64_t>& sorted, double fraction) {
  auto rank = static_cast<size_t>(std::ceil(fraction * sorted.size()));
  size_t index = std::clamp<size_t>(rank, 1, sorted.size()) - 1;
  return static_cast<double>(sorted[index]);
}

}  // namespace

Figures FiguresOf(const ClientReport& report, Workload workload) {
  Figures figures;
  if (IsTopicWorkload(workload)) {
    figures.p50_us = report.latencies.Percentile(0.50) / 1e3;
    figures.p99_us = report.latencies.Percentile(0.99) / 1e3;
    figures.p999_us = report.latencies.Percentile(0.999) / 1e3;
  } else {
    std::vector<int64_t> sorted = report.latencies_ns;
    std::sort(sorted.begin(), sorted.end());
    figures.p50_us = Percentile(sorted, 0.50) / 1e3;
    figures.p99_us = Percentile(sorted, 0.99) / 1e3;
    figures.p999_us = Percentile(sorted, 0.999) / 1e3;
  }
  double seconds = static_cast<double>(report.elapsed_ns) / 1e9;
  figures.ops_s = seconds > 0 ? static_cast<double>(report.ops) / seconds : 0;
  figures.mb_s =
      figures.ops_s * static_cast<double>(ReplyBytes(workload)) / 1e6;
  figures.lost = report.lost;
  return figures;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

Figures MedianOf(const std::vector<Figures>& rounds) {
  auto median = [&rounds](double Figures::*field) {
    std::vector<double> values;
    for (const Figures& f : rounds) values.push_back(f.*field);
    return Median(std::move(values));
  };
  Figures figures;
  figures.p50_us = median(&Figures::p50_us);
  figures.p99_us = median(&Figures::p99_us);
  figures.p999_us = median(&Figures::p999_us);
  figures.ops_s = median(&Figures::ops_s);
  figures.mb_s = median(&Figures::mb_s);
  for (const Figures& f : rounds) figures.lost += f.lost;
  return figures;
}

std::string FormatFigures(System system, Workload workload,
                          const Figures& figures) {
  std::string line = absl::StrFormat(
      "system=%s workload=%s p50_us=%.1f p99_us=%.1f p999_us=%.1f ops_s=%.0f",
      SystemName(system), WorkloadName(workload), figures.p50_us,
      figures.p99_us, figures.p999_us, figures.ops_s);
  if (workload == Workload::kBigFrame) {
    absl::StrAppendFormat(&line, " mb_s=%.0f", figures.mb_s);
  }
  absl::StrAppendFormat(&line, " lost=%d", figures.lost);
  return line;
}

}  // namespace switchboard::bench
