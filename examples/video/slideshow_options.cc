// SPDX-License-Identifier: MIT
//
// slideshow's flags and --help (slideshow_options.h).
#include "slideshow_options.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/flags.h"

namespace switchboard::examples::video {
namespace {

constexpr int64_t kMaxWindow = 1024;

constexpr char kSummary[] =
    "Gets test-pattern frames from video-server (service video.frames) and "
    "verifies every\nbyte: frame number, dimensions and each pixel. One of "
    "three actions:\n"
    "  (default)  GetFrame for frames 0 to N-1, one call at a time; prints "
    "frames/s,\n"
    "             MB/s and call latency\n"
    "  --play     PlayClip: the server streams every frame of its clip, "
    "paced by this\n"
    "             program's credit (--window); prints frames/s and MB/s\n"
    "  --watch    prints clip events until Ctrl-C\n"
    "Whatever the action, it subscribes to the topic video.events.> and "
    "prints the\nclip_loaded events it sees. --load=NAME first asks the "
    "server to load a clip\n(LoadClip) and waits for that clip's event.";

constexpr char kEpilogue[] =
    "Examples:\n"
    "  slideshow --frames=30 --out=/tmp/frames   30 GetFrame calls, "
    "writes 3 PPM images\n"
    "  slideshow --play                          play the server's clip\n"
    "  slideshow --load=intro --clip-frames=48 --fps=24 --play --realtime\n"
    "  slideshow --play --stop-after=10          cancel the stream after "
    "10 frames\n"
    "  slideshow --watch                         print clip events until "
    "Ctrl-C\n\n"
    "Throughput counts the whole loop (calls, verification, writing "
    "files); GetFrame\nlatency is the time each call took, including the "
    "library's parsing of the reply.\nMB are 10^6 bytes.\n\n"
    "Exit status: 0 if every frame arrived and verified (and, with --load, "
    "the clip's\nevent arrived); 1 if a frame was wrong or missing, a call "
    "or the stream failed,\nor a file could not be written; 2 for a usage "
    "error.\n";

void UsageErrorExit(const std::string& message) {
  absl::FPrintF(stderr, "slideshow: %s (see --help)\n", message);
  std::exit(2);
}

void CheckOrExit(const SlideshowOptions& options) {
  if (options.frames < 1) UsageErrorExit("--frames must be at least 1");
  if (options.timeout <= absl::ZeroDuration() ||
      options.play_timeout <= absl::ZeroDuration()) {
    UsageErrorExit("--timeout and --play-timeout must be positive");
  }
  if (options.play && options.watch) {
    UsageErrorExit("--play and --watch are different actions; pick one");
  }
  if (!options.play && (options.realtime || options.stop_after != 0)) {
    UsageErrorExit("--realtime and --stop-after need --play");
  }
  if (options.play && options.inline_pixels) {
    UsageErrorExit("--inline is for GetFrame; PlayClip frames are buffers");
  }
  if (options.stop_after < 0) UsageErrorExit("--stop-after must be >= 0");
  if (options.window < 1 || options.window > kMaxWindow) {
    UsageErrorExit(absl::StrFormat("--window must be 1 to %d", kMaxWindow));
  }
  if (options.load.empty() && (options.clip_frames != 0 || options.fps != 0)) {
    UsageErrorExit("--clip-frames and --fps need --load=NAME");
  }
  if (options.clip_frames < 0 || options.fps < 0) {
    UsageErrorExit("--clip-frames and --fps must be >= 0");
  }
}

}  // namespace

SlideshowOptions ParseSlideshowOptions(int argc, char** argv) {
  SlideshowOptions options;
  FlagParser flags("slideshow", kSummary);
  flags.AddString("address", &options.address, "ADDRESS",
                  "Broker to connect to: unix:PATH or tcp:127.0.0.1:PORT\n"
                  "                            (empty: $SWITCHBOARD_ADDRESS, "
                  "else the default address)");
  flags.AddInt("frames", &options.frames, "N",
               "GetFrame: how many frames to ask for");
  flags.AddBool("inline", &options.inline_pixels,
                "GetFrame: ask for the pixels inline in the reply message "
                "(copied\n"
                "                            through the broker) instead of "
                "as a SharedBuffer");
  flags.AddDuration("timeout", &options.timeout,
                    "Deadline of each GetFrame and LoadClip call");
  flags.AddBool("play", &options.play,
                "Play the server's clip through the streaming method "
                "PlayClip");
  flags.AddBool("realtime", &options.realtime,
                "--play: ask the server to send no faster than the clip's "
                "fps");
  flags.AddInt("stop-after", &options.stop_after, "N",
               "--play: cancel the stream after N frames (0: play the "
               "whole clip)");
  flags.AddInt("window", &options.window, "N",
               "--play: stream credit, the frames the server may send "
               "ahead");
  flags.AddDuration("play-timeout", &options.play_timeout,
                    "--play: deadline of the whole stream");
  flags.AddString("load", &options.load, "NAME",
                  "First ask the server to load clip NAME (LoadClip) and "
                  "wait for its\n"
                  "                            video.events.clip_loaded "
                  "event");
  flags.AddInt("clip-frames", &options.clip_frames, "N",
               "--load: frames in the clip (0: keep the server's)");
  flags.AddInt("fps", &options.fps, "N",
               "--load: the clip's frames per second (0: keep the "
               "server's)");
  flags.AddBool("watch", &options.watch,
                "Print clip events until SIGINT/SIGTERM instead of getting "
                "frames");
  flags.AddString("out", &options.out, "DIR",
                  "Write the first, middle and last frame as "
                  "DIR/frame-NNNNNN.ppm\n"
                  "                            (binary PPM, alpha dropped; "
                  "DIR is created if missing;\n"
                  "                            empty: write no files)");
  flags.AddBool("verbose", &options.verbose,
                "Print a line for every frame, not only for written or wrong "
                "ones");
  flags.set_epilogue(kEpilogue);
  std::vector<std::string> args = flags.ParseOrExit(argc, argv);
  if (!args.empty()) {
    UsageErrorExit(absl::StrFormat("unexpected argument '%s'", args[0]));
  }
  CheckOrExit(options);
  return options;
}

}  // namespace switchboard::examples::video
