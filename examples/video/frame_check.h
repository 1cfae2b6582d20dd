// SPDX-License-Identifier: MIT
//
// What slideshow checks and counts for every frame it receives, whether by
// GetFrame (get_frames.cc) or in a PlayClip stream (play_clip.cc): the
// frame's number and dimensions, every pixel of the test pattern, how the
// pixels travelled, and the summary lines it prints at the end.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_FRAME_CHECK_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_FRAME_CHECK_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "switchboard/shared_buffer.h"

namespace switchboard::examples::video {

// Wrong frames beyond this many are counted but not described one by one.
inline constexpr int kMaxReportedWrongFrames = 5;

// The dimensions of a frame.
struct FrameSize {
  uint32_t width = 0;
  uint32_t height = 0;
};

// What a received frame says about itself, next to its pixels.
struct ReceivedFrame {
  uint64_t frame_number = 0;
  FrameSize size;
  absl::string_view pixels;
};

// Checks everything about a received frame: its number (`expected_number`),
// its dimensions (non-zero, and those of the first frame unless `first` is
// nullopt), and every pixel. Errors: kDataLoss describing the first
// difference.
absl::Status VerifyFrame(const ReceivedFrame& frame, uint64_t expected_number,
                         const std::optional<FrameSize>& first);

// Counters for one run.
struct Totals {
  int64_t received = 0;
  int64_t wrong = 0;
  uint64_t bytes = 0;  // pixel bytes received
  // How buffer 0 arrived: as a file descriptor (and then whether it was
  // sealed immutable), or copied inline by the library because descriptors
  // cannot reach this connection (TCP).
  int64_t as_descriptor = 0;
  int64_t immutable = 0;
  int64_t copied_inline = 0;

  // Counts how `buffers`' buffer 0, if any, travelled.
  void CountBuffer(const std::vector<SharedBuffer>& buffers);
  // Counts a wrong frame and prints why, for the first few.
  void CountWrong(const absl::Status& why);
};

// "N frames received, W wrong; F frames/s, M MB/s over S s".
std::string DescribeThroughput(const Totals& totals, absl::Duration elapsed);
// One line on how the pixels travelled.
std::string DescribeTransport(const Totals& totals, bool inline_pixels);

// Nearest-rank percentile of `sorted` (ascending, non-empty); p in (0, 100].
absl::Duration Percentile(const std::vector<absl::Duration>& sorted, double p);
std::string Milliseconds(absl::Duration d);

// The frames to write as images out of `count`: the first, middle and last;
// none if `out_dir` is empty.
std::set<uint64_t> FramesToWrite(absl::string_view out_dir, uint64_t count);
// DIR/frame-NNNNNN.ppm
std::string FramePath(absl::string_view out_dir, uint64_t frame_number);

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_FRAME_CHECK_H_
