// SPDX-License-Identifier: MIT
//
// slideshow: asks video-server for frames one at a time through
// video.frames/GetFrame, checks every byte of every frame against the test
// pattern (test_pattern.h), optionally writes the first, middle and last
// frame as PPM images, and prints throughput and call latency. The pixels
// arrive as the reply's buffer 0, a SharedBuffer mapped read-only, or with
// --inline as bytes inside the reply message, to compare the two. Its
// counterpart is video_server.cc; README.md shows how to run both.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/flags.h"
#include "examples/video/ppm.h"
#include "examples/video/test_pattern.h"
#include "examples/video/video.pb.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/shared_buffer.h"

namespace switchboard::examples::video {
namespace {

constexpr char kServiceName[] = "video.frames";
constexpr char kMethodName[] = "GetFrame";
// Wrong frames beyond this many are counted but not described one by one.
constexpr int kMaxReportedWrongFrames = 5;

struct Options {
  std::string address;
  int64_t frames = 10;
  std::string out;
  absl::Duration timeout = absl::Seconds(10);
  bool verbose = false;
  bool inline_pixels = false;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  FlagParser flags("slideshow",
                   "Asks video.frames/GetFrame for frames 0 to N-1, one call "
                   "at a time, and verifies\nevery byte of every frame: "
                   "dimensions, frame number and each pixel of the test\n"
                   "pattern. Prints throughput and call latency.");
  flags.AddString("address", &options.address, "ADDRESS",
                  "Broker to connect to: unix:PATH or tcp:127.0.0.1:PORT\n"
                  "                            (empty: $SWITCHBOARD_ADDRESS, "
                  "else the default address)");
  flags.AddInt("frames", &options.frames, "N", "How many frames to ask for");
  flags.AddString("out", &options.out, "DIR",
                  "Write frames 0, N/2 and N-1 as DIR/frame-NNNNNN.ppm\n"
                  "                            (binary PPM, alpha dropped; "
                  "DIR is created if missing;\n"
                  "                            empty: write no files)");
  flags.AddDuration("timeout", &options.timeout,
                    "Deadline of each GetFrame call");
  flags.AddBool("inline", &options.inline_pixels,
                "Ask for the pixels inline in the reply message (copied "
                "through the broker)\n"
                "                            instead of as a SharedBuffer");
  flags.AddBool("verbose", &options.verbose,
                "Print a line for every frame, not only for written or wrong "
                "ones");
  flags.set_epilogue(
      "Throughput counts the whole loop (calls, verification, writing files); "
      "latency is\nthe time each GetFrame call took, including the library's "
      "parsing of the reply.\nGB are 10^9 bytes.\n\n"
      "Exit status: 0 if every frame arrived and verified; 1 if a frame was "
      "wrong, a call\nfailed or a file could not be written; 2 for a usage "
      "error.\n");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv);
  if (!args.empty()) {
    absl::FPrintF(stderr, "slideshow: unexpected argument '%s'\n", args[0]);
    std::exit(2);
  }
  if (options.frames < 1) {
    absl::FPrintF(stderr, "slideshow: --frames must be at least 1\n");
    std::exit(2);
  }
  if (options.timeout <= absl::ZeroDuration()) {
    absl::FPrintF(stderr, "slideshow: --timeout must be positive\n");
    std::exit(2);
  }
  return options;
}

// Nearest-rank percentile of `sorted` (ascending, non-empty); p in (0, 100].
absl::Duration Percentile(const std::vector<absl::Duration>& sorted, double p) {
  const auto rank = static_cast<size_t>(
      std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string Milliseconds(absl::Duration d) {
  return absl::StrFormat("%.1f ms", absl::ToDoubleMilliseconds(d));
}

// The dimensions of the first frame, which every later frame must repeat.
struct FrameSize {
  uint32_t width = 0;
  uint32_t height = 0;
};

// Where a reply's pixels are: buffer 0, or Frame.rgba when asked for
// inline. Errors: kDataLoss if the reply does not have that shape.
absl::StatusOr<absl::string_view> PixelsOf(const WithBuffers<Frame>& reply,
                                           bool inline_pixels) {
  const Frame& frame = reply.message;
  if (inline_pixels) {
    if (!reply.buffers.empty()) {
      return absl::DataLossError(
          absl::StrCat("frame ", frame.frame_number(),
                       " asked for inline pixels but came "
                       "with ",
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

// Checks everything about a received frame: its number, its dimensions
// (non-zero, and those of the first frame unless `first` is null), and every
// pixel. Errors: kDataLoss describing the first difference.
absl::Status VerifyFrame(const Frame& frame, absl::string_view pixels,
                         uint64_t frame_number, const FrameSize* first) {
  if (frame.frame_number() != frame_number) {
    return absl::DataLossError(absl::StrCat("asked for frame ", frame_number,
                                            ", got frame ",
                                            frame.frame_number()));
  }
  if (frame.width() == 0 || frame.height() == 0) {
    return absl::DataLossError(absl::StrCat(
        "frame ", frame_number, " is ", frame.width(), "x", frame.height()));
  }
  if (first != nullptr &&
      (frame.width() != first->width || frame.height() != first->height)) {
    return absl::DataLossError(absl::StrCat(
        "frame ", frame_number, " is ", frame.width(), "x", frame.height(),
        ", but the first frame was ", first->width, "x", first->height));
  }
  return VerifyPattern(frame.width(), frame.height(), frame_number, pixels);
}

struct Totals {
  int64_t received = 0;
  int64_t wrong = 0;
  uint64_t bytes = 0;
  // How buffer 0 arrived: as a file descriptor (and then whether it was
  // sealed immutable), or copied inline by the library because descriptors
  // cannot reach this connection (TCP).
  int64_t as_descriptor = 0;
  int64_t immutable = 0;
  int64_t copied_inline = 0;
  std::vector<absl::Duration> latencies;
};

// One line on how the pixels travelled.
std::string DescribeTransport(const Totals& totals, bool inline_pixels) {
  if (inline_pixels) {
    return "pixels inline in the reply message (--inline), copied through "
           "the broker";
  }
  std::string line = absl::StrCat("pixels in buffer 0: ", totals.as_descriptor,
                                  " frames as file descriptors (",
                                  totals.immutable, " sealed immutable)");
  if (totals.copied_inline > 0) {
    absl::StrAppend(&line, ", ", totals.copied_inline,
                    " copied inline by the library (no descriptors on this "
                    "connection)");
  }
  return line;
}

void PrintSummary(const Totals& totals, absl::Duration elapsed,
                  bool inline_pixels) {
  const double seconds = std::max(absl::ToDoubleSeconds(elapsed), 1e-9);
  std::string latency = "no latency figures";
  if (!totals.latencies.empty()) {
    std::vector<absl::Duration> sorted = totals.latencies;
    std::sort(sorted.begin(), sorted.end());
    latency = absl::StrCat("GetFrame latency p50 ",
                           Milliseconds(Percentile(sorted, 50)), ", p99 ",
                           Milliseconds(Percentile(sorted, 99)));
  }
  absl::PrintF(
      "slideshow: %d frames received, %d wrong; %.1f frames/s, %.2f GB/s over "
      "%.2f s; %s\n",
      totals.received, totals.wrong,
      static_cast<double>(totals.received) / seconds,
      static_cast<double>(totals.bytes) / 1e9 / seconds, seconds, latency);
  absl::PrintF("slideshow: %s\n", DescribeTransport(totals, inline_pixels));
}

int Run(const Options& options) {
  if (!options.out.empty()) {
    std::error_code error;
    std::filesystem::create_directories(options.out, error);
    if (error) {
      absl::FPrintF(stderr, "slideshow: cannot create %s: %s\n", options.out,
                    error.message());
      return 1;
    }
  }
  ConnectOptions connect_options;
  connect_options.client_name = "slideshow";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(options.address, connect_options);
  if (!client.ok()) {
    absl::FPrintF(stderr, "slideshow: cannot connect to the broker: %s\n",
                  client.status().ToString());
    return 1;
  }

  const auto last = static_cast<uint64_t>(options.frames - 1);
  std::set<uint64_t> to_write;
  if (!options.out.empty()) {
    to_write = {0, static_cast<uint64_t>(options.frames / 2), last};
  }
  absl::PrintF("slideshow: asking %s/%s for %d frames through %s, %s\n",
               kServiceName, kMethodName, options.frames, (*client)->address(),
               options.inline_pixels ? "pixels inline in the message"
                                     : "pixels as a SharedBuffer");
  std::fflush(stdout);

  Totals totals;
  bool failed = false;
  std::optional<FrameSize> first;
  const absl::Time start = absl::Now();
  for (uint64_t n = 0; n <= last; ++n) {
    GetFrameRequest request;
    request.set_frame_number(n);
    request.set_inline_pixels(options.inline_pixels);
    const absl::Time call_start = absl::Now();
    absl::StatusOr<WithBuffers<Frame>> reply =
        (*client)->CallWithBuffers<Frame>(kServiceName, kMethodName, request,
                                          {}, options.timeout);
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
    const Frame* frame = &reply->message;
    ++totals.received;
    totals.latencies.push_back(latency);
    if (!reply->buffers.empty()) {
      const SharedBuffer& buffer = reply->buffers[0];
      if (buffer.fd() >= 0) {
        ++totals.as_descriptor;
        totals.immutable += buffer.immutable();
      } else {
        ++totals.copied_inline;
      }
    }

    absl::StatusOr<absl::string_view> pixels =
        PixelsOf(*reply, options.inline_pixels);
    absl::Status verified = pixels.status();
    if (pixels.ok()) {
      totals.bytes += pixels->size();
      verified = VerifyFrame(*frame, *pixels, n, first ? &*first : nullptr);
    }
    if (!verified.ok()) {
      ++totals.wrong;
      if (totals.wrong <= kMaxReportedWrongFrames) {
        absl::FPrintF(stderr, "slideshow: wrong frame: %s\n",
                      verified.message());
      }
    }
    std::string line = absl::StrFormat(
        "frame %d: %dx%d, %s, %s", n, frame->width(), frame->height(),
        verified.ok() ? "verified" : "WRONG", Milliseconds(latency));
    const bool write =
        to_write.count(n) > 0 && pixels.ok() &&
        pixels->size() == FrameBytes(frame->width(), frame->height());
    if (write) {
      const std::string path =
          absl::StrFormat("%s/frame-%06d.ppm", options.out, n);
      const absl::Status written =
          WritePpm(path, frame->width(), frame->height(), *pixels);
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
    if (!first) first = FrameSize{frame->width(), frame->height()};
  }
  PrintSummary(totals, absl::Now() - start, options.inline_pixels);
  return failed || totals.wrong > 0 ? 1 : 0;
}

}  // namespace
}  // namespace switchboard::examples::video

int main(int argc, char** argv) {
  return switchboard::examples::video::Run(
      switchboard::examples::video::ParseOptions(argc, argv));
}
