// SPDX-License-Identifier: MIT
//
// PublishRun: small PUBLISH frames that arrived one after another on one
// connection and that the broker routes as one (docs/ARCHITECTURE.md,
// "Runs of small messages"). A publisher in a loop sends hundreds of
// frames per read, all alike but for their payload; decoding, matching and
// queueing each of them on its own cost the broker more than the bytes
// themselves. A run holds such frames back to back in one buffer, so the
// broker checks the topic, matches subscriptions and queues for each
// subscriber once per run, and a subscriber's queue holds one entry per
// run.
//
// Every frame of a run is a PUBLISH of at most kMaxFrameBytes, with request
// id 0 (no reply asked), no descriptors, no flags, and header bytes equal to
// the first frame's: the same topic and message type. Anything else ends a
// run and is handled frame by frame. A subscriber's library takes runs the
// same way: MESSAGE frames for one subscription (one request id), with the
// same flags and header, each sender read from its own prefix.
#ifndef SWITCHBOARD_WIRE_PUBLISH_RUN_H_
#define SWITCHBOARD_WIRE_PUBLISH_RUN_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "wire/frame.h"
#include "wire/prefix.h"

namespace switchboard::wire {

class PublishRun {
 public:
  // The largest frame a run takes. The broker's writer copies each message
  // of a run into its staging buffer to stamp its request id; frames this
  // small cost less to copy than an iovec of their own.
  static constexpr size_t kMaxFrameBytes = 1024;
  // Fewer frames than this are handled one by one.
  static constexpr size_t kMinFrames = 2;

  // Takes `bytes`, `size` bytes holding `count` frames back to back, each
  // meeting the rules above (FrameDecoder::TakePublishRun checks them).
  PublishRun(FrameBytes bytes, size_t size, size_t count);

  PublishRun(PublishRun&&) = default;
  PublishRun& operator=(PublishRun&&) = default;

  // Every frame, back to back.
  absl::string_view bytes() const { return {bytes_.get(), size_}; }
  size_t count() const { return count_; }
  // The header every frame carries.
  absl::string_view header_bytes() const;
  // Every frame's request id (0 for PUBLISH; a MESSAGE's subscription).
  uint64_t request_id() const;

  // The size of the frame that starts at `frame`, read from its prefix.
  static size_t FrameBytesAt(const char* frame);
  // The prefix of the frame that starts at `frame`, read without the checks
  // of DecodePrefix(): a run's frames passed them when the run was taken.
  static Prefix PrefixAt(const char* frame);

  // Makes every frame a MESSAGE from `sender` with `flags`, as the broker
  // forwards a PUBLISH (the request id is each subscriber's to stamp).
  void StampMessages(uint64_t sender, uint32_t uid, uint32_t pid,
                     uint16_t flags);

  // The frame at byte `offset` (a frame's start), copied into a Frame of
  // its own.
  Frame CopyFrame(size_t offset) const;

 private:
  FrameBytes bytes_;
  size_t size_ = 0;
  size_t count_ = 0;
};

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_WIRE_PUBLISH_RUN_H_
