// SPDX-License-Identifier: MIT
//
// slideshow --play: one streamed call to video.frames/PlayClip. Takes the
// clip's frames as they come (the library grants the server credit as
// frames are taken, so at most --window frames wait here), verifies each
// (frame_check.h), cancels after --stop-after frames if asked, and prints
// frames/s and MB/s.
#ifndef SWITCHBOARD_EXAMPLES_VIDEO_PLAY_CLIP_H_
#define SWITCHBOARD_EXAMPLES_VIDEO_PLAY_CLIP_H_

#include "slideshow_options.h"
#include "switchboard/client.h"

namespace switchboard::examples::video {

// Returns slideshow's exit status: 0 if the stream ended OK (or was
// cancelled by --stop-after) and every frame it promised arrived in order
// and verified, else 1 (after printing why).
int RunPlayClip(Client& client, const SlideshowOptions& options);

}  // namespace switchboard::examples::video

#endif  // SWITCHBOARD_EXAMPLES_VIDEO_PLAY_CLIP_H_
