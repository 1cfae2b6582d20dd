// SPDX-License-Identifier: MIT
//
// Frame verification and the summary lines of slideshow (frame_check.h).
#include "frame_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "test_pattern.h"

namespace switchboard::examples::video {

absl::Status VerifyFrame(const ReceivedFrame& frame, uint64_t expected_number,
                         const std::optional<FrameSize>& first) {
  if (frame.frame_number != expected_number) {
    return absl::DataLossError(absl::StrCat("expected frame ", expected_number,
                                            ", got frame ",
                                            frame.frame_number));
  }
  const FrameSize& size = frame.size;
  if (size.width == 0 || size.height == 0) {
    return absl::DataLossError(absl::StrCat("frame ", expected_number, " is ",
                                            size.width, "x", size.height));
  }
  if (first.has_value() &&
      (size.width != first->width || size.height != first->height)) {
    return absl::DataLossError(absl::StrCat(
        "frame ", expected_number, " is ", size.width, "x", size.height,
        ", but the first frame was ", first->width, "x", first->height));
  }
  return VerifyPattern(size.width, size.height, expected_number, frame.pixels);
}

void Totals::CountBuffer(const std::vector<SharedBuffer>& buffers) {
  if (buffers.empty()) return;
  const SharedBuffer& buffer = buffers[0];
  if (buffer.fd() >= 0) {
    ++as_descriptor;
    immutable += buffer.immutable();
  } else {
    ++copied_inline;
  }
}

void Totals::CountWrong(const absl::Status& why) {
  ++wrong;
  if (wrong <= kMaxReportedWrongFrames) {
    absl::FPrintF(stderr, "slideshow: wrong frame: %s\n", why.message());
  }
}

std::string DescribeThroughput(const Totals& totals, absl::Duration elapsed) {
  const double seconds = std::max(absl::ToDoubleSeconds(elapsed), 1e-9);
  return absl::StrFormat(
      "%d frames received, %d wrong; %.1f frames/s, %.1f MB/s over %.2f s",
      totals.received, totals.wrong,
      static_cast<double>(totals.received) / seconds,
      static_cast<double>(totals.bytes) / 1e6 / seconds, seconds);
}

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

absl::Duration Percentile(const std::vector<absl::Duration>& sorted, double p) {
  const auto rank = static_cast<size_t>(
      std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string Milliseconds(absl::Duration d) {
  return absl::StrFormat("%.1f ms", absl::ToDoubleMilliseconds(d));
}

std::set<uint64_t> FramesToWrite(absl::string_view out_dir, uint64_t count) {
  if (out_dir.empty() || count == 0) return {};
  return {0, count / 2, count - 1};
}

std::string FramePath(absl::string_view out_dir, uint64_t frame_number) {
  return absl::StrFormat("%s/frame-%06d.ppm", out_dir, frame_number);
}

}  // namespace switchboard::examples::video
