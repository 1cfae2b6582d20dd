// SPDX-License-Identifier: MIT
#include "wire/publish_run.h"

#include <cstring>
#include <utility>

#include "absl/base/internal/endian.h"
#include "base/log.h"

namespace switchboard::wire {

PublishRun::PublishRun(FrameBytes bytes, size_t size, size_t count)
    : bytes_(std::move(bytes)), size_(size), count_(count) {}

absl::string_view PublishRun::header_bytes() const {
  const uint32_t length =
      absl::little_endian::Load32(bytes_.get() + kOffsetHeaderLength);
  return {bytes_.get() + kPrefixBytes, length};
}

uint64_t PublishRun::request_id() const {
  return absl::little_endian::Load64(bytes_.get() + kOffsetRequestId);
}

size_t PublishRun::FrameBytesAt(const char* frame) {
  return kPrefixBytes +
         size_t{absl::little_endian::Load32(frame + kOffsetHeaderLength)} +
         size_t{absl::little_endian::Load32(frame + kOffsetPayloadLength)};
}

Prefix PublishRun::PrefixAt(const char* frame) {
  Prefix prefix;
  prefix.kind = static_cast<Kind>(frame[kOffsetKind]);
  prefix.flags = absl::little_endian::Load16(frame + kOffsetFlags);
  prefix.fd_count = static_cast<uint8_t>(frame[kOffsetFdCount]);
  prefix.header_length =
      absl::little_endian::Load32(frame + kOffsetHeaderLength);
  prefix.payload_length =
      absl::little_endian::Load32(frame + kOffsetPayloadLength);
  prefix.request_id = absl::little_endian::Load64(frame + kOffsetRequestId);
  prefix.sender = absl::little_endian::Load64(frame + kOffsetSender);
  prefix.sender_uid = absl::little_endian::Load32(frame + kOffsetSenderUid);
  prefix.sender_pid = absl::little_endian::Load32(frame + kOffsetSenderPid);
  return prefix;
}

void PublishRun::StampMessages(uint64_t sender, uint32_t uid, uint32_t pid,
                               uint16_t flags) {
  char* const end = bytes_.get() + size_;
  for (char* frame = bytes_.get(); frame < end; frame += FrameBytesAt(frame)) {
    StampKind(frame, Kind::kMessage);
    StampFlags(frame, flags);
    StampSender(frame, sender, uid, pid);
  }
}

Frame PublishRun::CopyFrame(size_t offset) const {
  SB_CHECK(offset < size_) << "no frame at " << offset;
  const char* start = bytes_.get() + offset;
  const Prefix prefix = PrefixAt(start);
  const size_t size = prefix.frame_bytes();
  FrameBytes bytes = AllocateFrameBytes(size);
  if (bytes == nullptr) throw std::bad_alloc();
  std::memcpy(bytes.get(), start, size);
  return Frame(prefix, std::move(bytes));
}

}  // namespace switchboard::wire
