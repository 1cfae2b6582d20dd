// SPDX-License-Identifier: MIT
//
// Incremental frame decoder: bytes go in as they arrive (one at a time works),
// whole Frames come out. Limits are checked on the prefix, before anything is
// allocated for the frame. Small frames are gathered in a staging buffer so
// one read() can deliver many; a frame larger than the staging buffer gets
// its own buffer, and WritableSpan() then points straight into it so a large
// payload is read from the socket without passing through staging.
//
// A large frame's buffer grows as its bytes arrive, never from what its
// prefix declares: it starts at kStagingBytes and doubles when full, capped
// at the frame's size, so the memory held is at most about twice what was
// received (a prefix announcing 63 MiB followed by silence costs 64 KiB).
// It grows with realloc() (wire/frame_bytes.h), which extends the block or
// moves its pages where it can: growing by copying into fresh buffers
// instead cut 33 MB replies from about 1.2x the bare relay's rate to 0.15x.
// Allocation failure is an error of this connection (kResourceExhausted),
// never an exception.
#ifndef SWITCHBOARD_WIRE_FRAME_DECODER_H_
#define SWITCHBOARD_WIRE_FRAME_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "wire/frame.h"
#include "wire/limits.h"
#include "wire/publish_run.h"

namespace switchboard::wire {

class FrameDecoder {
 public:
  explicit FrameDecoder(const Limits& limits);

  // Copies bytes in; grows the staging buffer as needed (tests, fuzzing).
  void Append(absl::string_view bytes);

  // Zero-copy input: read into WritableSpan(), then Commit() the count read.
  // The span is empty only when complete frames wait (the staging buffer is
  // full of them, or a large frame is whole) or growing a large frame's
  // buffer failed: call Next() until it returns std::nullopt (or the
  // error), then ask again. A large frame's span is the room left in its
  // current buffer, which is doubled here when full.
  absl::Span<char> WritableSpan();
  void Commit(size_t bytes_read);

  // Returns the next complete frame, or std::nullopt if more bytes are needed.
  // Errors: kResourceExhausted if a length exceeds the limits (checked before
  // any allocation; the message names the limit); kInvalidArgument for a
  // malformed prefix; kUnimplemented for another protocol version;
  // kResourceExhausted "cannot allocate N bytes for a frame" if memory ran
  // out. After an error the decoder stays failed: close the connection.
  absl::StatusOr<std::optional<Frame>> Next();

  // Takes the frames at the front of the staging buffer that form a
  // PublishRun (publish_run.h) of `kind` frames (kPublish in the broker,
  // kMessage in a subscriber): at least PublishRun::kMinFrames complete
  // frames, each checked as Next() checks it. Returns std::nullopt, taking
  // nothing, if the next frames do not form one; Next() then returns them
  // (and reports any error) one by one.
  std::optional<PublishRun> TakePublishRun(Kind kind = Kind::kPublish);

  // Bytes received but not yet returned as frames.
  size_t buffered_bytes() const;
  // Whether WritableSpan() points into a frame too large for the staging
  // buffer, which is being filled in place.
  bool filling_large_frame() const { return large_.has_value(); }
  // Bytes of buffers held for input: the staging buffer plus the current
  // allocation of a large frame being filled.
  size_t reserved_bytes() const {
    return staging_.size() + (large_ ? large_->capacity : 0);
  }
  // The current allocation of a large frame being filled; 0 if none.
  size_t large_frame_capacity() const { return large_ ? large_->capacity : 0; }
  // The limit that the last kResourceExhausted error named, e.g.
  // "max_payload_bytes", and its value; empty before such an error.
  absl::string_view exceeded_limit() const { return exceeded_limit_; }
  uint64_t exceeded_limit_value() const { return exceeded_limit_value_; }

  static constexpr size_t kStagingBytes = 64 * 1024;

 private:
  absl::Status CheckLimits(const Prefix& prefix);
  void Compact();
  // Returns a buffer of `size` uninitialized bytes, or null (and the
  // decoder fails with kResourceExhausted) if memory ran out.
  FrameBytes Allocate(size_t size);
  // Fails the decoder with kResourceExhausted for `size` bytes (unless it
  // failed already).
  void FailAllocation(size_t size);
  // Doubles the large frame's buffer (capped at the frame's size), keeping
  // what arrived. False if the allocation failed (the decoder has failed).
  bool GrowLargeFrame();

  // Allocates without zero-filling: the kernel then backs only the pages a
  // read actually touched, so an idle connection's 64 KiB staging buffer
  // costs a page or two of memory rather than all of it.
  template <typename T>
  struct UninitializedAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
      using other = UninitializedAllocator<U>;
    };
    template <typename U>
    void construct(U* p) {
      ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
  };

  Limits limits_;
  std::vector<char, UninitializedAllocator<char>> staging_;
  size_t begin_ = 0;  // first unconsumed byte in staging_
  size_t end_ = 0;    // one past the last received byte in staging_

  // A frame too large for staging_, being filled in place. `bytes` holds
  // `capacity` bytes, of which `filled` arrived; capacity reaches
  // prefix.frame_bytes() only as the frame's bytes do.
  struct LargeFrame {
    Prefix prefix;
    FrameBytes bytes;
    size_t capacity = 0;
    size_t filled = 0;
  };
  std::optional<LargeFrame> large_;

  absl::Status failure_;
  const char* exceeded_limit_ = "";
  uint64_t exceeded_limit_value_ = 0;
};

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_WIRE_FRAME_DECODER_H_
