// SPDX-License-Identifier: MIT
//
// Checks for a clip's settings, and the thread-safe current clip (clip.h).
#include "clip.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "switchboard/status_macros.h"

namespace switchboard::examples::video {
namespace {

bool HasControlCharacters(absl::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

}  // namespace

absl::Status ValidateClip(const ClipLoaded& clip) {
  if (clip.name().empty() || clip.name().size() > kMaxClipNameBytes ||
      HasControlCharacters(clip.name())) {
    return absl::InvalidArgumentError(
        absl::StrCat("a clip name is 1 to ", kMaxClipNameBytes,
                     " bytes without control characters"));
  }
  if (clip.width() < 1 || clip.width() > kMaxFrameSide || clip.height() < 1 ||
      clip.height() > kMaxFrameSide) {
    return absl::InvalidArgumentError(absl::StrCat(
        "clip ", clip.name(), ": width and height must be 1 to ", kMaxFrameSide,
        ", not ", clip.width(), "x", clip.height()));
  }
  if (clip.frame_count() < 1 || clip.frame_count() > kMaxClipFrames) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip ", clip.name(), ": frame count must be 1 to ",
                     kMaxClipFrames, ", not ", clip.frame_count()));
  }
  if (clip.fps() < 1 || clip.fps() > kMaxFps) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip ", clip.name(), ": fps must be 1 to ", kMaxFps,
                     ", not ", clip.fps()));
  }
  return absl::OkStatus();
}

std::string DescribeClip(const ClipLoaded& clip) {
  return absl::StrCat("clip ", clip.name(), ": ", clip.frame_count(),
                      " frames of ", clip.width(), "x", clip.height(), " at ",
                      clip.fps(), " fps");
}

absl::StatusOr<ClipLoaded> ApplyLoadRequest(const ClipLoaded& current,
                                            const LoadClipRequest& request) {
  ClipLoaded clip = current;
  if (!request.name().empty()) clip.set_name(request.name());
  if (request.frame_count() != 0) clip.set_frame_count(request.frame_count());
  if (request.width() != 0) clip.set_width(request.width());
  if (request.height() != 0) clip.set_height(request.height());
  if (request.fps() != 0) clip.set_fps(request.fps());
  SB_RETURN_IF_ERROR(ValidateClip(clip));
  return clip;
}

CurrentClip::CurrentClip(ClipLoaded initial) : clip_(std::move(initial)) {}

ClipLoaded CurrentClip::Get() const {
  absl::MutexLock lock(&mutex_);
  return clip_;
}

absl::StatusOr<ClipLoaded> CurrentClip::Load(const LoadClipRequest& request) {
  absl::MutexLock lock(&mutex_);
  SB_ASSIGN_OR_RETURN(ClipLoaded clip, ApplyLoadRequest(clip_, request));
  clip_ = clip;
  return clip;
}

}  // namespace switchboard::examples::video
