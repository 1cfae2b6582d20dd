// SPDX-License-Identifier: MIT
//
// slideshow's default action: calls video.frames/GetFrame for frames 0 to
// N-1, one call at a time, verifies each (frame_check.h), writes the first,
// middle and last as images if asked, and prints throughput and latency.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_GET_FRAMES_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_GET_FRAMES_H_

#include "slideshow_options.h"
#include "switchboard/client.h"

namespace switchboard::examples::video {

// Returns slideshow's exit status: 0 if every frame arrived and verified,
// else 1 (after printing why).
int RunGetFrames(Client& client, const SlideshowOptions& options);

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_GET_FRAMES_H_
