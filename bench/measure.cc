// SPDX-License-Identifier: MIT
#include "bench/measure.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Fixed-size start of an encoded report; the error text and the latencies
// follow. Both ends are this same binary, so the layout needs no byte order.
struct ReportHeader {
  uint64_t magic;
  uint64_t ops;
  uint64_t lost;
  int64_t elapsed_ns;
  uint64_t error_bytes;
  uint64_t latency_count;
  uint64_t messages;
  int64_t start_ns;
  int64_t end_ns;
  uint64_t dropped;
  uint64_t histogram_buckets;
};
constexpr uint64_t kReportMagic = 0x5342'4245'4e43'4832;  // "SBBENCH2"

int64_t Nanoseconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

ClientReport MeasureCalls(const MeasureOptions& options, Caller& caller) {
  enum class Outcome { kGood, kLost, kBroken };
  ClientReport report;
  uint64_t sequence = 0;
  // One call. The clock readings bracket the call and the check (for
  // bigframe the check reads every page). usable() is asked only after a
  // failure, so its cost (a lock, in the client library) stays out of the
  // loop.
  auto call = [&](Clock::time_point& start, Clock::time_point& end) {
    Payload request(std::make_shared<const std::string>(
        MakeRequest(options.workload, ++sequence)));
    bool ok;
    std::string why;
    start = Clock::now();
    {
      absl::StatusOr<Payload> reply = caller.Call(request);
      ok = reply.ok() && CheckReply(options.workload, request, *reply);
      if (!ok) {
        why = reply.ok() ? absl::StrCat("wrong reply (", reply->size(),
                                        " bytes) to call ", sequence)
                         : reply.status().ToString();
      }
    }  // releasing the reply (unmapping a memfd frame) is part of the call
    end = Clock::now();
    if (ok) return Outcome::kGood;
    // The first loss is worth a line; the count tells the rest.
    if (report.lost++ == 0) {
      std::fprintf(stderr, "switchboard-bench client: %s\n", why.c_str());
    }
    if (caller.usable()) return Outcome::kLost;
    report.error = why;
    return Outcome::kBroken;
  };

  Clock::time_point start, end;
  auto warmup_end = Clock::now() + absl::ToChronoNanoseconds(options.warmup);
  do {
    if (call(start, end) == Outcome::kBroken) return report;
  } while (end < warmup_end);

  report.latencies_ns.reserve(options.ops > 0 ? options.ops : 1 << 20);
  auto duration = absl::ToChronoNanoseconds(options.duration);
  Clock::time_point first = Clock::now();
  end = first;
  for (int64_t made = 0;; ++made) {
    if (options.ops > 0 ? made >= options.ops
                        : made > 0 && end - first >= duration) {
      break;
    }
    Outcome outcome = call(start, end);
    if (outcome == Outcome::kBroken) break;
    if (outcome == Outcome::kGood) {
      report.latencies_ns.push_back(Nanoseconds(end - start));
    }
  }
  report.ops = report.latencies_ns.size();
  report.elapsed_ns = Nanoseconds(end - first);
  return report;
}

std::string EncodeReport(const ClientReport& report) {
  const std::vector<uint64_t>& buckets = report.latencies.counts();
  ReportHeader header{
      kReportMagic,      report.ops,          report.lost,
      report.elapsed_ns, report.error.size(), report.latencies_ns.size(),
      report.messages,   report.start_ns,     report.end_ns,
      report.dropped,    buckets.size()};
  std::string bytes(reinterpret_cast<const char*>(&header), sizeof header);
  bytes += report.error;
  bytes.append(reinterpret_cast<const char*>(report.latencies_ns.data()),
               report.latencies_ns.size() * sizeof(int64_t));
  bytes.append(reinterpret_cast<const char*>(buckets.data()),
               buckets.size() * sizeof(uint64_t));
  return bytes;
}

absl::StatusOr<ClientReport> DecodeReport(absl::string_view bytes) {
  ReportHeader header;
  if (bytes.size() < sizeof header) {
    return absl::DataLossError(
        absl::StrCat("client report is ", bytes.size(), " bytes, too short"));
  }
  std::memcpy(&header, bytes.data(), sizeof header);
  bytes.remove_prefix(sizeof header);
  if (header.magic != kReportMagic ||
      bytes.size() != header.error_bytes +
                          header.latency_count * sizeof(int64_t) +
                          header.histogram_buckets * sizeof(uint64_t)) {
    return absl::DataLossError("client report is malformed");
  }
  ClientReport report;
  report.ops = header.ops;
  report.lost = header.lost;
  report.elapsed_ns = header.elapsed_ns;
  report.messages = header.messages;
  report.start_ns = header.start_ns;
  report.end_ns = header.end_ns;
  report.dropped = header.dropped;
  report.error = std::string(bytes.substr(0, header.error_bytes));
  bytes.remove_prefix(header.error_bytes);
  report.latencies_ns.resize(header.latency_count);
  std::memcpy(report.latencies_ns.data(), bytes.data(),
              header.latency_count * sizeof(int64_t));
  bytes.remove_prefix(header.latency_count * sizeof(int64_t));
  std::vector<uint64_t> buckets(header.histogram_buckets);
  std::memcpy(buckets.data(), bytes.data(), bytes.size());
  if (!report.latencies.Assign(std::move(buckets))) {
    return absl::DataLossError("client report has a malformed histogram");
  }
  return report;
}

absl::Status SendReport(const ClientReport& report) {
  std::string bytes = EncodeReport(report);
  absl::string_view left = bytes;
  while (!left.empty()) {
    ssize_t n = ::write(1, left.data(), left.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write client report");
    }
    left.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::bench
