// SPDX-License-Identifier: MIT
//
// slideshow: the client side of the video example. It subscribes to the
// topic pattern video.events.> and prints the clip_loaded events it sees
// (clip_events.h); with --load it first asks video-server to load a clip and
// waits for that clip's event; then it gets frames from video-server and
// verifies every byte, either one GetFrame call at a time (get_frames.h) or
// as one PlayClip stream (--play, play_clip.h), or with --watch only prints
// events until Ctrl-C. Its counterpart is video_server.cc; README.md shows
// how to run both.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "clip.h"
#include "clip_events.h"
#include "get_frames.h"
#include "play_clip.h"
#include "slideshow_options.h"
#include "switchboard/client.h"
#include "video.pb.h"
#include "video_service.h"

namespace switchboard::examples::video {
namespace {

// Asks video-server to load the clip --load names, then waits for its
// clip_loaded event: the server publishes it before it replies, so it
// arrives within the call's timeout or something is wrong.
bool LoadClip(Client& client, ClipEvents& events,
              const SlideshowOptions& options) {
  LoadClipRequest request;
  request.set_name(options.load);
  request.set_frame_count(static_cast<uint64_t>(options.clip_frames));
  request.set_fps(static_cast<uint32_t>(options.fps));
  absl::StatusOr<ClipLoaded> loaded = client.Call<ClipLoaded>(
      kServiceName, "LoadClip", request, options.timeout);
  if (!loaded.ok()) {
    absl::FPrintF(stderr, "slideshow: %s/LoadClip failed: %s%s\n", kServiceName,
                  loaded.status().ToString(),
                  loaded.status().code() == absl::StatusCode::kNotFound
                      ? " (is video-server running?)"
                      : "");
    return false;
  }
  absl::PrintF("slideshow: video-server loaded %s\n", DescribeClip(*loaded));
  std::fflush(stdout);
  if (!events.WaitForClip(*loaded, options.timeout)) {
    absl::FPrintF(stderr,
                  "slideshow: no %s event for clip %s arrived within %s\n",
                  kClipLoadedTopic, loaded->name(),
                  absl::FormatDuration(options.timeout));
    return false;
  }
  return true;
}

// Blocks SIGINT and SIGTERM in this thread and every thread started later,
// for --watch, so that they reach only sigtimedwait(); returns them.
sigset_t BlockStopSignals() {
  // A non-interactive shell starts background jobs with SIGINT ignored, and
  // an ignored signal is discarded rather than left pending.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

// --watch: waits for SIGINT or SIGTERM (0) or a lost broker (1) while the
// subscription prints events.
int Watch(Client& client, const ClipEvents& events,
          const sigset_t& stop_signals) {
  // The client reconnects by itself when the broker restarts; only a
  // connection lost for good ends the watch.
  // Shared: a report already queued may still run after this returns.
  auto lost = std::make_shared<std::atomic<bool>>(false);
  client.OnConnectionChange([lost](const ConnectionEvent& event) {
    if (event.state == ConnectionState::kClosed) lost->store(true);
  });
  absl::PrintF("slideshow: watching %s on %s; Ctrl-C to stop\n",
               kVideoEventsPattern, client.address());
  std::fflush(stdout);
  const timespec poll_interval = {0, 250'000'000};
  while (true) {
    const int received = sigtimedwait(&stop_signals, nullptr, &poll_interval);
    if (received == SIGINT || received == SIGTERM) break;
    if (received < 0 && errno != EAGAIN && errno != EINTR) {
      absl::FPrintF(stderr, "slideshow: sigtimedwait: %s\n",
                    std::generic_category().message(errno));
      return 1;
    }
    if (lost->load()) {
      absl::FPrintF(stderr, "slideshow: lost the connection to the broker\n");
      return 1;
    }
  }
  absl::PrintF("slideshow: saw %d clip_loaded events\n", events.clips_seen());
  return 0;
}

int Run(const SlideshowOptions& options) {
  if (!options.out.empty()) {
    std::error_code error;
    std::filesystem::create_directories(options.out, error);
    if (error) {
      absl::FPrintF(stderr, "slideshow: cannot create %s: %s\n", options.out,
                    error.message());
      return 1;
    }
  }
  // Before Connect() starts the client's threads, which inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  if (options.watch) stop_signals = BlockStopSignals();

  ConnectOptions connect_options;
  connect_options.client_name = "slideshow";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(options.address, connect_options);
  if (!client.ok()) {
    absl::FPrintF(stderr, "slideshow: cannot connect to the broker: %s\n",
                  client.status().ToString());
    return 1;
  }
  // Declared after the client, so destroyed (unsubscribed) before it.
  absl::StatusOr<std::unique_ptr<ClipEvents>> events =
      ClipEvents::Subscribe(**client);
  if (!events.ok()) {
    absl::FPrintF(stderr, "slideshow: cannot subscribe to %s: %s\n",
                  kVideoEventsPattern, events.status().ToString());
    return 1;
  }
  if (!options.load.empty() && !LoadClip(**client, **events, options)) {
    return 1;
  }
  if (options.watch) return Watch(**client, **events, stop_signals);
  if (options.play) return RunPlayClip(**client, options);
  return RunGetFrames(**client, options);
}

}  // namespace
}  // namespace switchboard::examples::video

int main(int argc, char** argv) {
  return switchboard::examples::video::Run(
      switchboard::examples::video::ParseSlideshowOptions(argc, argv));
}
