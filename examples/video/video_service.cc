// SPDX-License-Identifier: MIT
//
// The handlers of video.frames (video_service.h). Every frame is rendered
// into a fresh SharedBuffer sealed immutable, for GetFrame and PlayClip
// alike, so a receiver may keep any frame as long as it likes (README.md
// explains why not a pool).
#include "video_service.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "switchboard/shared_buffer.h"
#include "switchboard/stream.h"
#include "test_pattern.h"

namespace switchboard::examples::video {
namespace {

// How often a real-time PlayClip that waits for a frame's time checks
// whether the caller cancelled.
constexpr absl::Duration kCancelCheckInterval = absl::Milliseconds(20);

// Renders frame `frame_number` into a new SharedBuffer and seals it
// immutable: from then on nobody, this program included, can change its
// bytes.
absl::StatusOr<SharedBuffer> RenderFrameBuffer(uint32_t width, uint32_t height,
                                               uint64_t frame_number) {
  absl::StatusOr<SharedBuffer> pixels = SharedBuffer::Create(
      FrameBytes(width, height), absl::StrFormat("frame-%d", frame_number));
  if (!pixels.ok()) return pixels.status();
  FillPattern(width, height, frame_number,
              reinterpret_cast<uint8_t*>(pixels->mutable_data().data()));
  if (absl::Status s = pixels->Seal(SharedBuffer::Sealing::kImmutable);
      !s.ok()) {
    return s;
  }
  return pixels;
}

absl::StatusOr<WithBuffers<Frame>> GetFrame(const GetFrameRequest& request,
                                            const ClipLoaded& clip,
                                            uint64_t max_payload_bytes) {
  WithBuffers<Frame> reply;
  Frame& frame = reply.message;
  frame.set_width(clip.width());
  frame.set_height(clip.height());
  frame.set_frame_number(request.frame_number());
  const uint64_t frame_bytes = FrameBytes(clip.width(), clip.height());
  if (!request.inline_pixels()) {
    absl::StatusOr<SharedBuffer> pixels =
        RenderFrameBuffer(clip.width(), clip.height(), request.frame_number());
    if (!pixels.ok()) return pixels.status();
    reply.buffers.push_back(*std::move(pixels));
    return reply;
  }
  if (frame_bytes + kFrameOverheadBytes > max_payload_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "a %dx%d frame (%d bytes) does not fit inline in the broker's "
        "payload limit of %d bytes; ask for it as a buffer",
        clip.width(), clip.height(), frame_bytes, max_payload_bytes));
  }
  std::string* rgba = frame.mutable_rgba();
  rgba->resize(frame_bytes);
  FillPattern(clip.width(), clip.height(), request.frame_number(),
              reinterpret_cast<uint8_t*>(rgba->data()));
  return reply;
}

// Waits until `due`, or returns kCancelled as soon as the caller cancels.
absl::Status WaitUntil(absl::Time due, const StreamWriter& writer) {
  while (true) {
    if (writer.cancelled()) {
      return absl::CancelledError("the caller ended the stream");
    }
    const absl::Duration left = due - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::OkStatus();
    absl::SleepFor(std::min(left, kCancelCheckInterval));
  }
}

// Streams every frame of `clip`. Write() waits while the caller has granted
// no credit, so the caller sets the pace (and, with `realtime`, the clip's
// fps caps it); it fails once the caller cancels or goes away, which ends
// the loop. Returns the stream's final status.
absl::Status PlayClip(const CallInfo& call, const PlayClipRequest& request,
                      const ClipLoaded& clip, StreamWriter& writer,
                      VideoCounters& counters) {
  const absl::Duration period = absl::Seconds(1) / clip.fps();
  const absl::Time start = absl::Now();
  const uint64_t first = request.first_frame();
  if (first >= clip.frame_count()) {
    return absl::OutOfRangeError(
        absl::StrFormat("first_frame %d is past the last frame of %s (%d)",
                        first, clip.name(), clip.frame_count() - 1));
  }
  uint64_t sent = 0;
  absl::Status status;
  for (uint64_t n = first; n < clip.frame_count() && status.ok(); ++n) {
    if (request.realtime()) {
      status =
          WaitUntil(start + period * static_cast<int64_t>(n - first), writer);
      if (!status.ok()) break;
    }
    if (writer.cancelled()) {
      status = absl::CancelledError("the caller ended the stream");
      break;
    }
    absl::StatusOr<SharedBuffer> pixels =
        RenderFrameBuffer(clip.width(), clip.height(), n);
    if (!pixels.ok()) {
      status = pixels.status();
      break;
    }
    ClipFrame header;
    header.set_clip(clip.name());
    header.set_frame_number(n);
    header.set_frame_count(clip.frame_count());
    header.set_width(clip.width());
    header.set_height(clip.height());
    std::vector<SharedBuffer> buffers;
    buffers.push_back(*std::move(pixels));  // buffer 0: the pixels
    status =
        writer.Write(Payload(header.SerializeAsString(), std::move(buffers)));
    if (status.ok()) {
      ++sent;
      counters.frames_streamed.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (status.ok()) {
    absl::PrintF("video-server: PlayClip for :%d: sent %s %d frames of %s\n",
                 call.caller, first == 0 ? "all" : "the last", sent,
                 clip.name());
  } else {
    absl::PrintF(
        "video-server: PlayClip for :%d: stopped after %d of %d frames of "
        "%s: %s\n",
        call.caller, sent, clip.frame_count(), clip.name(), status.ToString());
  }
  std::fflush(stdout);
  return status;
}

}  // namespace

absl::Status PublishClipLoaded(Client& client, const ClipLoaded& clip) {
  return client.Publish(kClipLoadedTopic, clip);
}

Service MakeVideoService(Client& client, CurrentClip& clip,
                         const CallerCheck& callers, uint64_t max_payload_bytes,
                         VideoCounters& counters) {
  Service service(kServiceName);
  service.AddMethod<GetFrameRequest, Frame>(
      "GetFrame",
      [&client, &clip, &callers, &counters, max_payload_bytes](
          const CallInfo& call, const GetFrameRequest& request)
          -> absl::StatusOr<WithBuffers<Frame>> {
        if (absl::Status allowed = callers.Check(client, call); !allowed.ok()) {
          return allowed;
        }
        absl::StatusOr<WithBuffers<Frame>> reply =
            GetFrame(request, clip.Get(), max_payload_bytes);
        if (reply.ok()) {
          counters.frames_served.fetch_add(1, std::memory_order_relaxed);
        }
        return reply;
      });
  service.AddMethod<LoadClipRequest, ClipLoaded>(
      "LoadClip",
      [&client, &clip, &callers](
          const CallInfo& call,
          const LoadClipRequest& request) -> absl::StatusOr<ClipLoaded> {
        if (absl::Status allowed = callers.Check(client, call); !allowed.ok()) {
          return allowed;
        }
        absl::StatusOr<ClipLoaded> loaded = clip.Load(request);
        if (!loaded.ok()) return loaded.status();
        absl::PrintF("video-server: :%d loaded %s\n", call.caller,
                     DescribeClip(*loaded));
        std::fflush(stdout);
        // The clip is loaded whether or not the event goes out; a failed
        // publish (the broker going away) is for the log, not the caller.
        if (absl::Status published = PublishClipLoaded(client, *loaded);
            !published.ok()) {
          absl::FPrintF(stderr, "video-server: cannot publish %s: %s\n",
                        kClipLoadedTopic, published.ToString());
        }
        return loaded;
      });
  service.AddStreamMethod<PlayClipRequest, ClipFrame>(
      "PlayClip",
      [&client, &clip, &callers, &counters](
          const CallInfo& call, const PlayClipRequest& request,
          StreamWriter& writer) -> absl::Status {
        if (absl::Status allowed = callers.Check(client, call); !allowed.ok()) {
          return allowed;
        }
        counters.streams.fetch_add(1, std::memory_order_relaxed);
        return PlayClip(call, request, clip.Get(), writer, counters);
      });
  return service;
}

}  // namespace switchboard::examples::video
