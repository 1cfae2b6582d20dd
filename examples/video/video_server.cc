// SPDX-License-Identifier: MIT
//
// video-server: owns the service name video.frames on the bus and serves
// GetFrame (one synthetic RGBA test-pattern frame, test_pattern.h), LoadClip
// and PlayClip (streams the frames of its clip), as video_service.h
// describes. Frames are 3840x2160 unless --width/--height (or a LoadClip)
// say otherwise, and travel as SharedBuffers: file descriptors, not bytes.
// It announces its clip on the topic video.events.clip_loaded at start and
// after every LoadClip. It runs until SIGINT or SIGTERM, or until the broker
// goes away. Its counterpart is slideshow.cc; README.md shows how to run
// both.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "clip.h"
#include "switchboard/client.h"
#include "test_pattern.h"
#include "video.pb.h"
#include "video_service.h"

namespace switchboard::examples::video {
namespace {

struct Options {
  std::string address;
  int64_t width = 3840;
  int64_t height = 2160;
  std::string clip = "test-pattern";
  int64_t clip_frames = 60;
  int64_t fps = 30;
  std::string allow_exe;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  FlagParser flags(
      "video-server",
      "Serves video.frames on the Switchboard bus:\n"
      "  GetFrame  one synthetic RGBA test-pattern frame whose pixels encode "
      "its number,\n"
      "            sent as buffer 0 (a sealed memfd: a file descriptor), or "
      "copied into\n"
      "            the reply if the request asks for inline pixels\n"
      "  LoadClip  replaces the clip (name, frame count, size, fps) and "
      "publishes it\n"
      "  PlayClip  a streaming method: every frame of the clip, each as a "
      "buffer,\n"
      "            paced by the caller's credit (and by the clip's fps if "
      "asked)\n"
      "It publishes its clip on the topic video.events.clip_loaded at start "
      "and after\nevery LoadClip. Runs until SIGINT or SIGTERM.");
  flags.AddString("address", &options.address, "ADDRESS",
                  "Broker to connect to: unix:PATH or tcp:127.0.0.1:PORT\n"
                  "                            (empty: $SWITCHBOARD_ADDRESS, "
                  "else the default address)");
  flags.AddInt("width", &options.width, "PIXELS", "Frame width");
  flags.AddInt("height", &options.height, "PIXELS", "Frame height");
  flags.AddString("clip", &options.clip, "NAME", "Name of the first clip");
  flags.AddInt("clip-frames", &options.clip_frames, "N",
               "Frames in the first clip");
  flags.AddInt("fps", &options.fps, "N",
               "Frames per second of the first clip, for real-time play");
  flags.AddString("allow-exe", &options.allow_exe, "PATH",
                  "Serve only callers running this executable (as the "
                  "broker\n"
                  "                            read it from the kernel when "
                  "they connected;\n"
                  "                            empty: any)");
  flags.set_epilogue(
      "Once it owns the name and has published its clip it prints one line "
      "on stdout:\n"
      "  video-server: serving video.frames on ADDRESS (WxH RGBA), clip "
      "NAME: ...\n"
      "and then a line for each LoadClip and for the end of each PlayClip "
      "stream.\n\n"
      "Exit status: 0 after SIGINT/SIGTERM; 1 if it cannot connect, the name "
      "is taken,\nor the broker goes away; 2 for a usage error.\n");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv);
  if (!args.empty()) {
    absl::FPrintF(stderr, "video-server: unexpected argument '%s'\n", args[0]);
    std::exit(2);
  }
  return options;
}

// The first clip, from the flags. Exits 2 if they are out of range.
ClipLoaded FirstClipOrExit(const Options& options) {
  const auto in_range = [](int64_t value, int64_t max) {
    return value >= 1 && value <= max;
  };
  if (!in_range(options.width, kMaxFrameSide) ||
      !in_range(options.height, kMaxFrameSide) ||
      !in_range(options.clip_frames, kMaxClipFrames) ||
      !in_range(options.fps, kMaxFps)) {
    absl::FPrintF(stderr,
                  "video-server: --width and --height must be 1 to %d, "
                  "--clip-frames 1 to %d, --fps 1 to %d\n",
                  kMaxFrameSide, kMaxClipFrames, kMaxFps);
    std::exit(2);
  }
  ClipLoaded clip;
  clip.set_name(options.clip);
  clip.set_frame_count(static_cast<uint64_t>(options.clip_frames));
  clip.set_width(static_cast<uint32_t>(options.width));
  clip.set_height(static_cast<uint32_t>(options.height));
  clip.set_fps(static_cast<uint32_t>(options.fps));
  if (absl::Status valid = ValidateClip(clip); !valid.ok()) {
    absl::FPrintF(stderr, "video-server: --clip: %s\n", valid.message());
    std::exit(2);
  }
  return clip;
}

// Blocks until SIGINT or SIGTERM arrives (OK) or the client loses the broker
// (kUnavailable). The signals must already be blocked in every thread.
absl::Status WaitForStopSignal(const sigset_t& stop_signals,
                               const std::atomic<bool>& lost) {
  // Look at the connection between waits: the client reconnects by itself
  // when the broker restarts, and reports a connection lost for good (see
  // `lost` in Run()); a server without a broker serves nobody.
  const timespec poll_interval = {0, 250'000'000};
  while (true) {
    const int received = sigtimedwait(&stop_signals, nullptr, &poll_interval);
    if (received == SIGINT || received == SIGTERM) return absl::OkStatus();
    if (received < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "sigtimedwait");
    }
    if (lost.load()) {
      return absl::UnavailableError("lost the connection to the broker");
    }
  }
}

// Blocks SIGINT and SIGTERM in this thread, and so in every thread started
// later, so that they reach only sigtimedwait(); returns them.
sigset_t BlockStopSignals() {
  // A non-interactive shell starts background jobs with SIGINT ignored, and
  // an ignored signal is discarded rather than left pending for
  // sigtimedwait(): restore the default disposition first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

// Claims video.frames; prints why not and returns false if it cannot.
bool ServeOrReport(Client& client, Service service) {
  absl::StatusOr<NameState> state = client.Serve(std::move(service));
  if (state.ok()) return true;
  if (state.status().code() == absl::StatusCode::kAlreadyExists) {
    absl::FPrintF(stderr,
                  "video-server: another connection already serves %s (is "
                  "another video-server running?): %s\n",
                  kServiceName, state.status().ToString());
  } else {
    absl::FPrintF(stderr, "video-server: cannot serve %s: %s\n", kServiceName,
                  state.status().ToString());
  }
  return false;
}

int Run(const Options& options) {
  // Declared before the client: its handlers use them until the client's
  // destructor has stopped the dispatch thread and the stream threads.
  VideoCounters counters;
  CurrentClip clip(FirstClipOrExit(options));
  // Callers of this uid only (and one program, with --allow-exe), from
  // their kernel-verified identity.
  const CallerCheck callers(static_cast<uint32_t>(::getuid()),
                            options.allow_exe);

  // Before Connect() starts the client's threads, so they inherit the mask.
  const sigset_t stop_signals = BlockStopSignals();
  // Set by the client when its connection is gone for good (a restarted
  // broker is reconnected to, with video.frames served again).
  std::atomic<bool> lost{false};

  ConnectOptions connect_options;
  connect_options.client_name = "video-server";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(options.address, connect_options);
  if (!client.ok()) {
    absl::FPrintF(stderr, "video-server: cannot connect to the broker: %s\n",
                  client.status().ToString());
    return 1;
  }

  const ClipLoaded first = clip.Get();
  const uint64_t frame_bytes = FrameBytes(first.width(), first.height());
  (*client)->OnConnectionChange([&lost](const ConnectionEvent& event) {
    if (event.state == ConnectionState::kClosed) lost.store(true);
  });
  const uint64_t max_payload_bytes = (*client)->max_payload_bytes();
  if (frame_bytes + kFrameOverheadBytes > max_payload_bytes) {
    absl::FPrintF(stderr,
                  "video-server: note: a %dx%d frame (%d bytes) is over the "
                  "broker's payload limit of %d bytes, so it can travel only "
                  "as a file descriptor: inline requests, and callers on TCP, "
                  "will get RESOURCE_EXHAUSTED\n",
                  first.width(), first.height(), frame_bytes,
                  max_payload_bytes);
  }

  if (!ServeOrReport(**client, MakeVideoService(**client, clip, callers,
                                                max_payload_bytes, counters))) {
    return 1;
  }
  if (absl::Status published = PublishClipLoaded(**client, first);
      !published.ok()) {
    absl::FPrintF(stderr, "video-server: cannot publish %s: %s\n",
                  kClipLoadedTopic, published.ToString());
    return 1;
  }
  absl::PrintF("video-server: serving %s on %s (%dx%d RGBA), %s\n",
               kServiceName, (*client)->address(), first.width(),
               first.height(), DescribeClip(first));
  std::fflush(stdout);

  const absl::Status stopped = WaitForStopSignal(stop_signals, lost);
  if (!stopped.ok()) {
    absl::FPrintF(stderr, "video-server: %s\n", stopped.ToString());
    return 1;
  }
  absl::PrintF(
      "video-server: stopping after serving %d frames by GetFrame and %d in "
      "%d PlayClip streams\n",
      counters.frames_served.load(), counters.frames_streamed.load(),
      counters.streams.load());
  return 0;
}

}  // namespace
}  // namespace switchboard::examples::video

int main(int argc, char** argv) {
  return switchboard::examples::video::Run(
      switchboard::examples::video::ParseOptions(argc, argv));
}
