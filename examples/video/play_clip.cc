// SPDX-License-Identifier: MIT
//
// The PlayClip loop of slideshow (play_clip.h). Each stream message is a
// ClipFrame with the pixels in buffer 0; the frames must come in order, 0 to
// frame_count-1, all of one clip and one size, and the stream must end OK
// right after the last one.
#include "play_clip.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "frame_check.h"
#include "ppm.h"
#include "switchboard/payload.h"
#include "switchboard/stream.h"
#include "video.pb.h"
#include "video_service.h"

namespace switchboard::examples::video {
namespace {

constexpr char kMethodName[] = "PlayClip";
// How many times one playback resumes after its stream broke.
constexpr int kMaxResumes = 10;

// Checks stream message `n` (its header already parsed) against the first
// frame's header. Errors: kDataLoss describing the first difference.
absl::Status VerifyClipFrame(const ClipFrame& header, const Payload& message,
                             uint64_t n,
                             const std::optional<ClipFrame>& first) {
  if (message.buffers().size() != 1) {
    return absl::DataLossError(absl::StrCat("frame ", n, " came with ",
                                            message.buffers().size(),
                                            " buffers; expected 1"));
  }
  if (header.frame_count() <= n) {
    return absl::DataLossError(absl::StrCat("frame ", n, " of a clip of ",
                                            header.frame_count(), " frames"));
  }
  std::optional<FrameSize> first_size;
  if (first.has_value()) {
    if (header.clip() != first->clip() ||
        header.frame_count() != first->frame_count()) {
      return absl::DataLossError(
          absl::StrCat("frame ", n, " belongs to clip ", header.clip(), " (",
                       header.frame_count(), " frames), frame 0 to clip ",
                       first->clip(), " (", first->frame_count(), " frames)"));
    }
    first_size = FrameSize{first->width(), first->height()};
  }
  return VerifyFrame({header.frame_number(),
                      {header.width(), header.height()},
                      message.buffers()[0].data()},
                     n, first_size);
}

// The state of one playback, frame by frame.
struct Playback {
  Totals totals;
  std::optional<ClipFrame> first;
  std::set<uint64_t> to_write;
  bool failed = false;
};

// Checks, counts and (if asked) writes stream message `n`.
void TakeFrame(const Payload& message, uint64_t n,
               const SlideshowOptions& options, Playback& playback) {
  Totals& totals = playback.totals;
  ++totals.received;
  totals.CountBuffer(message.buffers());
  ClipFrame header;
  absl::Status verified = absl::OkStatus();
  if (!header.ParseFromArray(message.data(),
                             static_cast<int>(message.size()))) {
    verified = absl::DataLossError(
        absl::StrCat("stream message ", n, " is not a valid ClipFrame"));
  } else {
    verified = VerifyClipFrame(header, message, n, playback.first);
  }
  if (!verified.ok()) {
    totals.CountWrong(verified);
    absl::PrintF("frame %d: WRONG\n", n);
    std::fflush(stdout);
    return;
  }
  totals.bytes += message.buffers()[0].size();
  if (!playback.first.has_value()) {
    playback.first = header;
    uint64_t to_play = header.frame_count();
    if (options.stop_after > 0) {
      to_play = std::min(to_play, static_cast<uint64_t>(options.stop_after));
    }
    playback.to_write = FramesToWrite(options.out, to_play);
  }
  std::string line =
      absl::StrFormat("frame %d of %d: %dx%d, verified", n,
                      header.frame_count(), header.width(), header.height());
  const bool write = playback.to_write.count(n) > 0;
  if (write) {
    const std::string path = FramePath(options.out, n);
    const absl::Status written = WritePpm(path, header.width(), header.height(),
                                          message.buffers()[0].data());
    if (!written.ok()) {
      absl::FPrintF(stderr, "slideshow: %s\n", written.ToString());
      playback.failed = true;
    } else {
      absl::StrAppend(&line, ", wrote ", path);
    }
  }
  if (options.verbose || write) {
    absl::PrintF("%s\n", line);
    std::fflush(stdout);
  }
}

// After an OK end: did every frame of the clip come? Prints why not.
bool CheckComplete(const Playback& playback) {
  if (!playback.first.has_value()) {
    absl::FPrintF(stderr,
                  "slideshow: %s/%s ended without sending a valid frame\n",
                  kServiceName, kMethodName);
    return false;
  }
  const auto expected = static_cast<int64_t>(playback.first->frame_count());
  if (playback.totals.received != expected) {
    absl::FPrintF(
        stderr, "slideshow: %s/%s ended after %d frames of a clip of %d\n",
        kServiceName, kMethodName, playback.totals.received, expected);
    return false;
  }
  return true;
}

}  // namespace

int RunPlayClip(Client& client, const SlideshowOptions& options) {
  PlayClipRequest request;
  request.set_realtime(options.realtime);
  StreamOptions stream_options;
  stream_options.window = static_cast<uint32_t>(options.window);
  stream_options.timeout = options.play_timeout;
  absl::PrintF(
      "slideshow: playing the clip of %s/%s through %s, credit window %d, "
      "%s\n",
      kServiceName, kMethodName, client.address(), options.window,
      options.realtime ? "in real time" : "as fast as frames are taken");
  std::fflush(stdout);

  const absl::Time start = absl::Now();
  Playback playback;
  std::optional<absl::Duration> first_frame_after;
  absl::Status end;
  bool stopped = false;
  int resumed = 0;
  uint64_t n = 0;  // the next frame expected
  while (true) {
    request.set_first_frame(n);
    absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
        client.CallStream(kServiceName, kMethodName, request, stream_options);
    if (!stream.ok()) {
      absl::FPrintF(stderr, "slideshow: cannot start %s/%s: %s\n", kServiceName,
                    kMethodName, stream.status().ToString());
      return 1;
    }
    end = absl::OkStatus();
    for (;; ++n) {
      absl::StatusOr<std::optional<Payload>> next = (*stream)->Next();
      if (!next.ok()) {
        end = next.status();
        break;
      }
      if (!next->has_value()) break;  // the server ended the stream OK
      if (!first_frame_after) first_frame_after = absl::Now() - start;
      TakeFrame(**next, n, options, playback);
      if (options.stop_after > 0 &&
          playback.totals.received == options.stop_after) {
        (*stream)->Cancel();  // the server's next Write() fails: it stops
        stopped = true;
        break;
      }
    }
    // A stream broken by a lost connection (the broker restarted): the
    // client reconnects by itself; once the server has its name back,
    // play on from the frame reached. The gap is reported, never hidden.
    if (end.code() != absl::StatusCode::kUnavailable ||
        resumed == kMaxResumes) {
      break;
    }
    ++resumed;
    const absl::Time broke = absl::Now();
    absl::PrintF("slideshow: the stream broke at frame %d: %s\n", n,
                 end.message());
    std::fflush(stdout);
    absl::StatusOr<uint64_t> owner =
        client.WaitForService(kServiceName, options.play_timeout);
    if (!owner.ok()) {
      end = owner.status();
      break;
    }
    absl::PrintF("slideshow: resuming at frame %d after a gap of %s\n", n,
                 Milliseconds(absl::Now() - broke));
    std::fflush(stdout);
  }
  const absl::Duration elapsed = absl::Now() - start;

  bool ok = !playback.failed && playback.totals.wrong == 0;
  if (!end.ok()) {
    absl::FPrintF(stderr, "slideshow: %s/%s failed after %d frames: %s%s\n",
                  kServiceName, kMethodName, playback.totals.received,
                  end.ToString(),
                  end.code() == absl::StatusCode::kNotFound
                      ? " (is video-server running?)"
                      : "");
    ok = false;
  } else if (!stopped) {
    ok = CheckComplete(playback) && ok;
  }
  std::string how = "no frames";
  if (playback.first.has_value()) {
    how = absl::StrCat(
        "clip ", playback.first->clip(), ", ",
        stopped
            ? absl::StrCat("cancelled after ", playback.totals.received, " of ",
                           playback.first->frame_count(),
                           " frames (--stop-after)")
            : absl::StrCat("all ", playback.first->frame_count(), " frames"));
  }
  if (resumed > 0) {
    absl::StrAppend(&how, ", resumed ", resumed,
                    resumed == 1 ? " time" : " times",
                    " after a broken stream");
  }
  absl::PrintF("slideshow: played %s; %s; first frame after %s\n", how,
               DescribeThroughput(playback.totals, elapsed),
               first_frame_after ? Milliseconds(*first_frame_after) : "-");
  absl::PrintF("slideshow: %s\n",
               DescribeTransport(playback.totals, /*inline_pixels=*/false));
  return ok ? 0 : 1;
}

}  // namespace switchboard::examples::video
