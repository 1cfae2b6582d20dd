// SPDX-License-Identifier: MIT
#include "bench/topic_message.h"

#include <time.h>

#include <array>
#include <cstring>

namespace switchboard::bench {
namespace {

// The fill of a message with sequence number s is kFill[s % 256 + i] for its
// byte i: a window into one table, so writing and checking it is a memcpy
// and a memcmp, which keeps the floors' per-message work small.
constexpr size_t kMaxFillBytes = 256;
constexpr std::array<char, 256 + kMaxFillBytes> MakeFill() {
  std::array<char, 256 + kMaxFillBytes> fill{};
  for (size_t i = 0; i < fill.size(); ++i) {
    fill[i] = static_cast<char>((i * 7) % 251);
  }
  return fill;
}
constexpr std::array<char, 256 + kMaxFillBytes> kFill = MakeFill();

const char* FillOf(uint64_t sequence) { return kFill.data() + sequence % 256; }

}  // namespace

int64_t MonotonicNanos() {
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

void WriteTopicMessage(const TopicStamp& stamp, char* out, size_t size) {
  auto phase = static_cast<uint64_t>(stamp.phase);
  std::memcpy(out, &stamp.sequence, 8);
  std::memcpy(out + 8, &stamp.sent_ns, 8);
  std::memcpy(out + 16, &phase, 8);
  std::memcpy(out + kTopicStampBytes, FillOf(stamp.sequence),
              size - kTopicStampBytes);
}

std::optional<TopicStamp> ReadTopicMessage(absl::string_view message,
                                           size_t size) {
  if (message.size() != size || size < kTopicStampBytes) return std::nullopt;
  TopicStamp stamp;
  uint64_t phase;
  std::memcpy(&stamp.sequence, message.data(), 8);
  std::memcpy(&stamp.sent_ns, message.data() + 8, 8);
  std::memcpy(&phase, message.data() + 16, 8);
  if (phase < static_cast<uint64_t>(TopicPhase::kWarmup) ||
      phase > static_cast<uint64_t>(TopicPhase::kEnd)) {
    return std::nullopt;
  }
  stamp.phase = static_cast<TopicPhase>(phase);
  if (std::memcmp(message.data() + kTopicStampBytes, FillOf(stamp.sequence),
                  size - kTopicStampBytes) != 0) {
    return std::nullopt;
  }
  return stamp;
}

}  // namespace switchboard::bench
