// SPDX-License-Identifier: MIT
//
// slideshow's subscription to the topic pattern video.events.>: prints each
// event as it arrives (video-server publishes video.events.clip_loaded,
// a ClipLoaded, whenever it loads a clip) and lets the main thread wait for
// a particular clip's event, as slideshow --load does to show that its
// LoadClip was announced.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_CLIP_EVENTS_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_CLIP_EVENTS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "video.pb.h"

namespace switchboard::examples::video {

inline constexpr char kVideoEventsPattern[] = "video.events.>";

class ClipEvents {
 public:
  // Subscribes `client` to kVideoEventsPattern, for as long as the result
  // lives. Events published after this returns are printed on stdout from
  // the client's dispatch thread. Errors as Client::Subscribe().
  static absl::StatusOr<std::unique_ptr<ClipEvents>> Subscribe(Client& client);

  // Unsubscribes (the handle does), so the callback, which uses `this`, no
  // longer runs.
  ~ClipEvents() = default;
  ClipEvents(const ClipEvents&) = delete;
  ClipEvents& operator=(const ClipEvents&) = delete;

  // Waits until a clip_loaded event equal to `clip` has arrived (returns
  // true) or `timeout` passes (false).
  bool WaitForClip(const ClipLoaded& clip, absl::Duration timeout);
  // clip_loaded events seen so far.
  int64_t clips_seen() const;

 private:
  ClipEvents() = default;
  void OnMessage(const Message& message);

  mutable absl::Mutex mutex_;
  std::vector<ClipLoaded> clips_ ABSL_GUARDED_BY(mutex_);
  // Declared last: destroyed first, so no callback runs on a half-destroyed
  // object.
  Subscription subscription_;
};

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_CLIP_EVENTS_H_
