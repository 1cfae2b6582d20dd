// SPDX-License-Identifier: MIT
#include "bench/topic_floor.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "bench/child_process.h"
#include "bench/floor.h"

namespace switchboard::bench {
namespace {

using FrameLength = uint32_t;

}  // namespace

absl::Status WriteAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

FloorTopicPublisher::FloorTopicPublisher(std::vector<int> fds)
    : fds_(std::move(fds)) {
  batch_.reserve(kTopicBatchBytes);
}

absl::Status FloorTopicPublisher::Publish(absl::string_view message) {
  if (batch_.size() + sizeof(FrameLength) + message.size() > kTopicBatchBytes) {
    if (absl::Status s = Flush(); !s.ok()) return s;
  }
  auto length = static_cast<FrameLength>(message.size());
  batch_.append(reinterpret_cast<const char*>(&length), sizeof length);
  batch_.append(message.data(), message.size());
  return absl::OkStatus();
}

absl::Status FloorTopicPublisher::PublishLast(absl::string_view end_marker) {
  if (absl::Status s = Publish(end_marker); !s.ok()) return s;
  return Flush();
}

absl::Status FloorTopicPublisher::Flush() {
  for (int fd : fds_) {
    if (absl::Status s = WriteAll(fd, batch_); !s.ok()) return s;
  }
  batch_.clear();
  return absl::OkStatus();
}

int RunFloorSubscriber(Workload workload, int fd) {
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "floor subscriber: %s\n", status.ToString().c_str());
    return 1;
  };
  FrameReader reader(fd, kTopicBatchBytes);
  SubscriberTally tally(workload);
  if (absl::Status s = AnnounceReady(); !s.ok()) return fail(s);
  std::string error;
  while (!tally.ended()) {
    absl::StatusOr<std::optional<absl::string_view>> message = reader.Read();
    if (!message.ok() || !message->has_value()) {
      error = message.ok() ? "the stream ended before the end marker"
                           : message.status().ToString();
      break;
    }
    tally.Receive(**message);
  }
  ClientReport report = tally.report();
  report.error = std::move(error);
  if (absl::Status s = SendReport(report); !s.ok()) return fail(s);
  return report.error.empty() ? 0 : 1;
}

}  // namespace switchboard::bench
