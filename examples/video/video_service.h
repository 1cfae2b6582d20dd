// SPDX-License-Identifier: MIT
//
// The service video-server offers under the name video.frames:
//
//   GetFrame   GetFrameRequest -> Frame: one test-pattern frame of the
//              current clip's size, pixels in buffer 0 (or inline on request)
//   LoadClip   LoadClipRequest -> ClipLoaded: replaces the current clip and
//              publishes the new one on the topic video.events.clip_loaded
//   PlayClip   PlayClipRequest -> stream of ClipFrame: every frame of the
//              current clip, pixels in buffer 0, paced by the caller's credit
//
// video_server.cc connects, serves this and waits for a signal; the handlers
// and what they print are here. Messages in video.proto.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_VIDEO_SERVICE_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_VIDEO_SERVICE_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "caller_check.h"
#include "clip.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "video.pb.h"

namespace switchboard::examples::video {

inline constexpr char kServiceName[] = "video.frames";
inline constexpr char kClipLoadedTopic[] = "video.events.clip_loaded";
// Room for the Frame message's other fields and the rgba field's tag and
// length, on top of the pixels, when checking the broker's payload limit for
// inline pixels.
inline constexpr uint64_t kFrameOverheadBytes = 64;

// What the handlers did, for video-server's last line. Handlers update it
// from the dispatch thread and from stream threads.
struct VideoCounters {
  std::atomic<uint64_t> frames_served{0};    // by GetFrame
  std::atomic<uint64_t> frames_streamed{0};  // by PlayClip
  std::atomic<uint64_t> streams{0};          // PlayClip calls that started
};

// Publishes `clip` on kClipLoadedTopic. Errors as Client::Publish().
absl::Status PublishClipLoaded(Client& client, const ClipLoaded& clip);

// The video.frames service. `client` (which publishes LoadClip's events),
// `clip`, `callers` and `counters` must outlive it: its handlers run on the
// client's dispatch thread (GetFrame, LoadClip) and on stream threads
// (PlayClip) until the client is destroyed. Each call is first checked by
// `callers`. Inline pixels larger than `max_payload_bytes` are refused with
// RESOURCE_EXHAUSTED.
Service MakeVideoService(Client& client, CurrentClip& clip,
                         const CallerCheck& callers, uint64_t max_payload_bytes,
                         VideoCounters& counters);

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_VIDEO_SERVICE_H_
