// SPDX-License-Identifier: MIT
//
// The clip video-server plays through video.frames/PlayClip: its settings
// (a ClipLoaded message, video.proto), the checks a new clip must pass, and
// CurrentClip, the one loaded now. The LoadClip handler replaces it on the
// client's dispatch thread while PlayClip streams read it on threads of
// their own, so CurrentClip is thread-safe. The GetFrame handler takes its
// frame size from it too.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_CLIP_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_CLIP_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "video.pb.h"

namespace switchboard::examples::video {

inline constexpr uint32_t kMaxFrameSide = 65535;  // pixels
inline constexpr uint64_t kMaxClipFrames = 1'000'000;
inline constexpr uint32_t kMaxFps = 1000;
inline constexpr size_t kMaxClipNameBytes = 100;

// Checks every field of `clip`. Errors: kInvalidArgument naming the first
// bad field: an empty or over-long name, or one with control characters; a
// width or height outside 1 to kMaxFrameSide; a frame count outside 1 to
// kMaxClipFrames; fps outside 1 to kMaxFps.
absl::Status ValidateClip(const ClipLoaded& clip);

// "clip NAME: N frames of WxH at F fps", for people.
std::string DescribeClip(const ClipLoaded& clip);

// `current` with the non-zero (non-empty) fields of `request` put in.
// Errors as ValidateClip() for the result.
absl::StatusOr<ClipLoaded> ApplyLoadRequest(const ClipLoaded& current,
                                            const LoadClipRequest& request);

// The clip loaded now. Thread-safe.
class CurrentClip {
 public:
  // `initial` must pass ValidateClip().
  explicit CurrentClip(ClipLoaded initial);

  ClipLoaded Get() const;
  // Applies a LoadClip request (ApplyLoadRequest) and keeps the result, or
  // keeps the current clip and returns the error.
  absl::StatusOr<ClipLoaded> Load(const LoadClipRequest& request);

 private:
  mutable absl::Mutex mutex_;
  ClipLoaded clip_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_CLIP_H_
