// SPDX-License-Identifier: MIT
//
// The GetFrame loop of slideshow (get_frames.h). The pixels arrive as the
// reply's buffer 0, a SharedBuffer mapped read-only, or with --inline as
// bytes inside the reply message, to compare the two.
#include "get_frames.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "frame_check.h"
#include "ppm.h"
#include "switchboard/service.h"
#include "test_pattern.h"
#include "video.pb.h"
#include "video_service.h"

namespace switchboard::examples::video {
namespace {

constexpr char kMethodName[] = "GetFrame";

// Where a reply's pixels are: buffer 0, or Frame.rgba when asked for
// inline. Errors: kDataLoss if the reply does not have that shape.
absl::StatusOr<absl::string_view> PixelsOf(const WithBuffers<Frame>& reply,
                                           bool inline_pixels) {
  const Frame& frame = reply.message;
  if (inline_pixels) {
    if (!reply.buffers.empty()) {
      return absl::DataLossError(
          absl::StrCat("frame ", frame.frame_number(),
                       " asked for inline pixels but came with ",
                       reply.buffers.size(), " buffers"));
    }
    return absl::string_view(frame.rgba());
  }
  if (reply.buffers.size() != 1 || !frame.rgba().empty()) {
    return absl::DataLossError(
        absl::StrCat("frame ", frame.frame_number(), " came with ",
                     reply.buffers.size(), " buffers and ", frame.rgba().size(),
                     " inline bytes; expected the pixels in buffer 0 alone"));
  }
  return reply.buffers[0].data();
}

void PrintSummary(const Totals& totals, std::vector<absl::Duration> latencies,
                  absl::Duration elapsed, bool inline_pixels) {
  std::string latency = "no latency figures";
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    latency = absl::StrCat("GetFrame latency p50 ",
                           Milliseconds(Percentile(latencies, 50)), ", p99 ",
                           Milliseconds(Percentile(latencies, 99)));
  }
  absl::PrintF("slideshow: %s; %s\n", DescribeThroughput(totals, elapsed),
               latency);
  absl::PrintF("slideshow: %s\n", DescribeTransport(totals, inline_pixels));
}

}  // namespace

int RunGetFrames(Client& client, const SlideshowOptions& options) {
  const auto count = static_cast<uint64_t>(options.frames);
  const std::set<uint64_t> to_write = FramesToWrite(options.out, count);
  absl::PrintF("slideshow: asking %s/%s for %d frames through %s, %s\n",
               kServiceName, kMethodName, options.frames, client.address(),
               options.inline_pixels ? "pixels inline in the message"
                                     : "pixels as a SharedBuffer");
  std::fflush(stdout);

  Totals totals;
  std::vector<absl::Duration> latencies;
  bool failed = false;
  std::optional<FrameSize> first;
  const absl::Time start = absl::Now();
  for (uint64_t n = 0; n < count; ++n) {
    GetFrameRequest request;
    request.set_frame_number(n);
    request.set_inline_pixels(options.inline_pixels);
    const absl::Time call_start = absl::Now();
    absl::StatusOr<WithBuffers<Frame>> reply = client.CallWithBuffers<Frame>(
        kServiceName, kMethodName, request, {}, options.timeout);
    const absl::Duration latency = absl::Now() - call_start;
    if (!reply.ok()) {
      absl::FPrintF(stderr, "slideshow: frame %d: %s/%s failed: %s%s\n", n,
                    kServiceName, kMethodName, reply.status().ToString(),
                    reply.status().code() == absl::StatusCode::kNotFound
                        ? " (is video-server running?)"
                        : "");
      failed = true;
      break;
    }
    const Frame& frame = reply->message;
    ++totals.received;
    latencies.push_back(latency);
    totals.CountBuffer(reply->buffers);

    const FrameSize size{frame.width(), frame.height()};
    absl::StatusOr<absl::string_view> pixels =
        PixelsOf(*reply, options.inline_pixels);
    absl::Status verified = pixels.status();
    if (pixels.ok()) {
      totals.bytes += pixels->size();
      verified = VerifyFrame({frame.frame_number(), size, *pixels}, n, first);
    }
    if (!verified.ok()) totals.CountWrong(verified);
    std::string line = absl::StrFormat(
        "frame %d: %dx%d, %s, %s", n, frame.width(), frame.height(),
        verified.ok() ? "verified" : "WRONG", Milliseconds(latency));
    // A wrong frame of the right size is written too: the image may show
    // what went wrong.
    const bool write =
        to_write.count(n) > 0 && pixels.ok() &&
        pixels->size() == FrameBytes(frame.width(), frame.height());
    if (write) {
      const std::string path = FramePath(options.out, n);
      const absl::Status written =
          WritePpm(path, frame.width(), frame.height(), *pixels);
      if (!written.ok()) {
        absl::FPrintF(stderr, "slideshow: %s\n", written.ToString());
        failed = true;
      } else {
        absl::StrAppend(&line, ", wrote ", path);
      }
    }
    if (options.verbose || write || !verified.ok()) {
      absl::PrintF("%s\n", line);
      std::fflush(stdout);
    }
    if (!first) first = size;
  }
  PrintSummary(totals, std::move(latencies), absl::Now() - start,
               options.inline_pixels);
  return failed || totals.wrong > 0 ? 1 : 0;
}

}  // namespace switchboard::examples::video
