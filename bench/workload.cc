// SPDX-License-Identifier: MIT
#include "bench/workload.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace switchboard::bench {
namespace {

// Byte `offset` of the pool's frame `index`: varies from page to page, so a
// frame cut, shifted or assembled from the wrong pages fails the per-page
// check, and the four frames differ on every page (by multiples of 64), so
// the wrong frame of the pool fails it too.
char FrameByte(size_t index, size_t offset) {
  return static_cast<char>((offset / kTouchStride) * 131 +
                           offset % kTouchStride + index * 64);
}

}  // namespace

const char* WorkloadName(Workload workload) {
  switch (workload) {
    case Workload::kRtt:
      return "rtt";
    case Workload::kBigFrame:
      return "bigframe";
    case Workload::kPubSub:
      return "pubsub";
    case Workload::kFanout:
      return "fanout";
  }
  return "?";
}

const char* SystemName(System system) {
  switch (system) {
    case System::kFloorDirect:
      return "floor-direct";
    case System::kFloorRelay:
      return "floor-relay";
    case System::kFloorMemfd:
      return "floor-memfd";
    case System::kSwitchboard:
      return "switchboard";
    case System::kSwitchboardMemfd:
      return "switchboard-memfd";
  }
  return "?";
}

std::optional<Workload> ParseWorkload(absl::string_view name) {
  for (Workload w : kAllWorkloads) {
    if (name == WorkloadName(w)) return w;
  }
  return std::nullopt;
}

std::optional<System> ParseSystem(absl::string_view name) {
  for (System s : kAllSystems) {
    if (name == SystemName(s)) return s;
  }
  return std::nullopt;
}

bool IsTopicWorkload(Workload workload) {
  return workload == Workload::kPubSub || workload == Workload::kFanout;
}

int SubscriberCount(Workload workload) {
  return workload == Workload::kFanout ? kFanoutSubscribers : 1;
}

size_t TopicMessageBytes(Workload workload) {
  return workload == Workload::kFanout ? kFanoutMessageBytes
                                       : kPubSubMessageBytes;
}

bool ThroughBroker(System system) {
  return system == System::kSwitchboard || system == System::kSwitchboardMemfd;
}

bool PassesMemfds(System system) {
  return system == System::kFloorMemfd || system == System::kSwitchboardMemfd;
}

bool Measures(System system, Workload workload) {
  return workload == Workload::kBigFrame || !PassesMemfds(system);
}

std::string MakeRequest(Workload workload, uint64_t sequence) {
  size_t size =
      workload == Workload::kRtt ? kRttMessageBytes : kBigFrameRequestBytes;
  std::string request(size, '\0');
  std::memcpy(request.data(), &sequence, sizeof sequence);
  for (size_t i = sizeof sequence; i < size; ++i) {
    request[i] = static_cast<char>(sequence * 7 + i);
  }
  return request;
}

size_t ReplyBytes(Workload workload) {
  if (IsTopicWorkload(workload)) return TopicMessageBytes(workload);
  return workload == Workload::kRtt ? kRttMessageBytes : kBigFrameReplyBytes;
}

size_t BigFrameIndex(absl::string_view request) {
  uint64_t sequence = 0;
  std::memcpy(&sequence, request.data(),
              std::min(sizeof sequence, request.size()));
  return sequence % kBigFramePoolSize;
}

void RenderBigFrame(size_t index, char* out) {
  for (size_t i = 0; i < kBigFrameReplyBytes; ++i) out[i] = FrameByte(index, i);
}

std::vector<std::shared_ptr<const std::string>> RenderBigFramePool() {
  std::vector<std::shared_ptr<const std::string>> pool;
  for (size_t index = 0; index < kBigFramePoolSize; ++index) {
    auto frame = std::make_shared<std::string>(kBigFrameReplyBytes, '\0');
    RenderBigFrame(index, frame->data());
    pool.push_back(std::move(frame));
  }
  return pool;
}

bool CheckReply(Workload workload, absl::string_view request,
                absl::string_view reply) {
  if (workload == Workload::kRtt) return reply == request;
  if (reply.size() != kBigFrameReplyBytes) return false;
  size_t index = BigFrameIndex(request);
  bool ok = true;
  // No early exit: every page is read whatever the outcome, so a bad frame
  // costs the client as much as a good one.
  for (size_t offset = 0; offset < reply.size(); offset += kTouchStride) {
    ok &= reply[offset] == FrameByte(index, offset);
  }
  return ok;
}

}  // namespace switchboard::bench
