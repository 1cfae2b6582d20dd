// SPDX-License-Identifier: MIT
//
// slideshow's command line: what it does (GetFrame calls, a played clip, or
// watching clip events), parsed and checked by ParseSlideshowOptions(),
// which prints --help and exits 2 on a usage error.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_SLIDESHOW_OPTIONS_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_SLIDESHOW_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace switchboard::examples::video {

struct SlideshowOptions {
  std::string address;
  // GetFrame (the default action).
  int64_t frames = 10;
  bool inline_pixels = false;
  absl::Duration timeout = absl::Seconds(10);  // of each call
  // PlayClip (--play).
  bool play = false;
  bool realtime = false;
  int64_t stop_after = 0;  // frames; 0: the whole clip
  int64_t window = 4;      // stream credit
  absl::Duration play_timeout = absl::Minutes(5);
  // LoadClip first (--load=NAME), with these settings (0: keep).
  std::string load;
  int64_t clip_frames = 0;
  int64_t fps = 0;
  // Print clip events until SIGINT/SIGTERM (--watch).
  bool watch = false;
  // Output.
  std::string out;
  bool verbose = false;
};

// Parses argv; exits 0 after --help and 2 after a usage error.
SlideshowOptions ParseSlideshowOptions(int argc, char** argv);

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_SLIDESHOW_OPTIONS_H_
