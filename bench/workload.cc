// SPDX-License-Identifier: MIT
#include "bench/workload.h"

#include <cstring>

namespace switchboard::bench {
namespace {

// Byte `offset` of the big frame: varies from page to page, so a frame cut,
// shifted or assembled from the wrong pages fails the per-page check.
char FrameByte(size_t offset) {
  return static_cast<char>((offset / kTouchStride) * 131 +
                           offset % kTouchStride);
}

}  // namespace

const char* WorkloadName(Workload workload) {
  switch (workload) {
    case Workload::kRtt:
      return "rtt";
    case Workload::kBigFrame:
      return "bigframe";
  }
  return "?";
}

const char* SystemName(System system) {
  switch (system) {
    case System::kFloorDirect:
      return "floor-direct";
    case System::kFloorRelay:
      return "floor-relay";
    case System::kSwitchboard:
      return "switchboard";
  }
  return "?";
}

std::optional<Workload> ParseWorkload(absl::string_view name) {
  for (Workload w : {Workload::kRtt, Workload::kBigFrame}) {
    if (name == WorkloadName(w)) return w;
  }
  return std::nullopt;
}

std::optional<System> ParseSystem(absl::string_view name) {
  for (System s :
       {System::kFloorDirect, System::kFloorRelay, System::kSwitchboard}) {
    if (name == SystemName(s)) return s;
  }
  return std::nullopt;
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
  return workload == Workload::kRtt ? kRttMessageBytes : kBigFrameReplyBytes;
}

std::shared_ptr<const std::string> RenderBigFrame() {
  auto frame = std::make_shared<std::string>(kBigFrameReplyBytes, '\0');
  for (size_t i = 0; i < frame->size(); ++i) (*frame)[i] = FrameByte(i);
  return frame;
}

bool CheckReply(Workload workload, absl::string_view request,
                absl::string_view reply) {
  if (workload == Workload::kRtt) return reply == request;
  if (reply.size() != kBigFrameReplyBytes) return false;
  bool ok = true;
  // No early exit: every page is read whatever the outcome, so a bad frame
  // costs the client as much as a good one.
  for (size_t offset = 0; offset < reply.size(); offset += kTouchStride) {
    ok &= reply[offset] == FrameByte(offset);
  }
  return ok;
}

}  // namespace switchboard::bench
