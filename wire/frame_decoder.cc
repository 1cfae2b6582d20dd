// SPDX-License-Identifier: MIT
#include "wire/frame_decoder.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard::wire {

FrameDecoder::FrameDecoder(const Limits& limits)
    : limits_(limits), staging_(kStagingBytes) {}

size_t FrameDecoder::buffered_bytes() const {
  return (end_ - begin_) + (large_ ? large_->filled : 0);
}

void FrameDecoder::Compact() {
  if (begin_ == 0) return;
  std::memmove(staging_.data(), staging_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

void FrameDecoder::FailAllocation(size_t size) {
  if (!failure_.ok()) return;
  failure_ = absl::ResourceExhaustedError(
      absl::StrCat("cannot allocate ", size, " bytes for a frame"));
}

FrameBytes FrameDecoder::Allocate(size_t size) {
  // Not new[]: that throws std::bad_alloc, which would take the whole
  // broker down for one connection's frame.
  FrameBytes bytes = AllocateFrameBytes(size);
  if (bytes == nullptr) FailAllocation(size);
  return bytes;
}

bool FrameDecoder::GrowLargeFrame() {
  const size_t total = large_->prefix.frame_bytes();
  const size_t capacity = std::min(total, 2 * large_->capacity);
  if (!ResizeFrameBytes(large_->bytes, capacity)) {
    FailAllocation(capacity);
    return false;
  }
  large_->capacity = capacity;
  return true;
}

void FrameDecoder::Append(absl::string_view bytes) {
  while (large_ && !bytes.empty()) {
    const size_t total = large_->prefix.frame_bytes();
    if (large_->filled == total) break;
    if (large_->filled == large_->capacity && !GrowLargeFrame()) return;
    const size_t n = std::min(large_->capacity - large_->filled, bytes.size());
    std::memcpy(large_->bytes.get() + large_->filled, bytes.data(), n);
    large_->filled += n;
    bytes.remove_prefix(n);
  }
  if (bytes.empty()) return;
  // Whatever follows goes to staging, which grows here if it must.
  if (begin_ == end_) begin_ = end_ = 0;
  if (staging_.size() - end_ < bytes.size()) Compact();
  if (staging_.size() - end_ < bytes.size())
    staging_.resize(end_ + bytes.size());
  std::memcpy(staging_.data() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

absl::Span<char> FrameDecoder::WritableSpan() {
  if (large_) {
    if (!failure_.ok()) return {};
    const size_t total = large_->prefix.frame_bytes();
    if (large_->filled == large_->capacity && large_->capacity < total &&
        !GrowLargeFrame()) {
      return {};
    }
    return absl::MakeSpan(large_->bytes.get() + large_->filled,
                          large_->capacity - large_->filled);
  }
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == staging_.size()) Compact();
  return absl::MakeSpan(staging_.data() + end_, staging_.size() - end_);
}

void FrameDecoder::Commit(size_t bytes_read) {
  if (large_) {
    large_->filled += bytes_read;
  } else {
    end_ += bytes_read;
  }
}

absl::Status FrameDecoder::CheckLimits(const Prefix& prefix) {
  auto exceeded = [&](const char* name, uint64_t limit, uint64_t got) {
    exceeded_limit_ = name;
    exceeded_limit_value_ = limit;
    return absl::ResourceExhaustedError(
        absl::StrCat(KindName(prefix.kind), " frame ", name, " exceeded: ", got,
                     " > ", limit));
  };
  if (prefix.header_length > limits_.max_header_bytes) {
    return exceeded("max_header_bytes", limits_.max_header_bytes,
                    prefix.header_length);
  }
  if (prefix.payload_length > limits_.max_payload_bytes) {
    return exceeded("max_payload_bytes", limits_.max_payload_bytes,
                    prefix.payload_length);
  }
  if (prefix.fd_count > limits_.max_fds_per_frame) {
    return exceeded("max_fds_per_frame", limits_.max_fds_per_frame,
                    prefix.fd_count);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Frame>> FrameDecoder::Next() {
  if (!failure_.ok()) return failure_;
  if (large_) {
    if (large_->filled < large_->prefix.frame_bytes()) return std::nullopt;
    Frame frame(large_->prefix, std::move(large_->bytes));
    large_.reset();
    return frame;
  }
  const size_t available = end_ - begin_;
  if (available < kPrefixBytes) return std::nullopt;
  const char* start = staging_.data() + begin_;
  absl::StatusOr<Prefix> prefix =
      DecodePrefix(absl::string_view(start, kPrefixBytes));
  if (prefix.ok()) {
    failure_ = CheckLimits(*prefix);
  } else {
    failure_ = prefix.status();
  }
  if (!failure_.ok()) return failure_;

  const size_t total = prefix->frame_bytes();
  if (available >= total) {
    FrameBytes bytes = Allocate(total);
    if (bytes == nullptr) return failure_;
    std::memcpy(bytes.get(), start, total);
    begin_ += total;
    return Frame(*prefix, std::move(bytes));
  }
  if (total <= staging_.size()) {
    // Wait for the rest in staging; make room at the end if needed.
    if (staging_.size() - begin_ < total) Compact();
    return std::nullopt;
  }
  // Too large for staging: give it its own buffer, sized for what arrived
  // rather than for what the prefix declares, and read the rest into it.
  const size_t capacity = std::min(total, std::max(kStagingBytes, available));
  FrameBytes bytes = Allocate(capacity);
  if (bytes == nullptr) return failure_;
  LargeFrame large{*prefix, std::move(bytes), capacity, available};
  std::memcpy(large.bytes.get(), start, available);
  begin_ = end_ = 0;
  large_ = std::move(large);
  return std::nullopt;
}

std::optional<PublishRun> FrameDecoder::TakePublishRun(Kind kind) {
  if (!failure_.ok() || large_) return std::nullopt;
  const char* const start = staging_.data() + begin_;
  const size_t available = end_ - begin_;
  // The first frame's header, request id and flags.
  absl::string_view header;
  uint64_t request_id = 0;
  uint16_t flags = 0;
  size_t size = 0;
  size_t count = 0;
  while (available - size >= kPrefixBytes) {
    const char* frame = start + size;
    absl::StatusOr<Prefix> prefix =
        DecodePrefix(absl::string_view(frame, kPrefixBytes));
    if (!prefix.ok() || prefix->kind != kind || prefix->fd_count != 0 ||
        prefix->frame_bytes() > PublishRun::kMaxFrameBytes ||
        prefix->header_length > limits_.max_header_bytes ||
        prefix->payload_length > limits_.max_payload_bytes ||
        prefix->frame_bytes() > available - size) {
      break;
    }
    const absl::string_view frame_header(frame + kPrefixBytes,
                                         prefix->header_length);
    if (count == 0) {
      // A PUBLISH that asks for a reply or carries flags goes alone.
      if (kind == Kind::kPublish &&
          (prefix->request_id != 0 || prefix->flags != 0)) {
        break;
      }
      header = frame_header;
      request_id = prefix->request_id;
      flags = prefix->flags;
    } else if (prefix->request_id != request_id || prefix->flags != flags ||
               frame_header != header) {
      break;
    }
    size += prefix->frame_bytes();
    ++count;
  }
  if (count < PublishRun::kMinFrames) return std::nullopt;
  // If this fails, the decoder has failed and Next() reports it.
  FrameBytes bytes = Allocate(size);
  if (bytes == nullptr) return std::nullopt;
  std::memcpy(bytes.get(), start, size);
  begin_ += size;
  return PublishRun(std::move(bytes), size, count);
}

}  // namespace switchboard::wire
