// SPDX-License-Identifier: MIT
//
// video-server: owns the service name video.frames on the bus and answers
// video.frames/GetFrame with a synthetic RGBA test-pattern frame
// (test_pattern.h), 3840x2160 unless --width/--height say otherwise. Each
// frame is rendered into a fresh SharedBuffer, sealed immutable and attached
// to the reply as buffer 0, so it travels as a file descriptor; a request
// with inline_pixels gets the pixels copied into the message instead. It
// runs until SIGINT or SIGTERM, or until the broker goes away. Its
// counterpart is slideshow.cc; README.md shows how to run both.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "examples/video/test_pattern.h"
#include "examples/video/video.pb.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/shared_buffer.h"

namespace switchboard::examples::video {
namespace {

constexpr char kServiceName[] = "video.frames";
// Room for the Frame message's other fields and the rgba field's tag and
// length, on top of the pixels, when checking the broker's payload limit for
// inline pixels.
constexpr uint64_t kFrameOverheadBytes = 64;

struct Options {
  std::string address;
  int64_t width = 3840;
  int64_t height = 2160;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  FlagParser flags("video-server",
                   "Serves video.frames/GetFrame on the Switchboard bus: each "
                   "call returns a synthetic\nRGBA test-pattern frame whose "
                   "pixels encode the frame number, rendered into a\nnew "
                   "SharedBuffer sealed immutable and sent as buffer 0 (a "
                   "file descriptor), or\ncopied into the reply message if "
                   "the request asks for inline pixels. Runs until\nSIGINT "
                   "or SIGTERM.");
  flags.AddString("address", &options.address, "ADDRESS",
                  "Broker to connect to: unix:PATH or tcp:127.0.0.1:PORT\n"
                  "                            (empty: $SWITCHBOARD_ADDRESS, "
                  "else the default address)");
  flags.AddInt("width", &options.width, "PIXELS", "Frame width");
  flags.AddInt("height", &options.height, "PIXELS", "Frame height");
  flags.set_epilogue(
      "Once it owns the name it prints one line, \"video-server: serving "
      "video.frames on ADDRESS\n(WxH RGBA)\", on stdout.\n\n"
      "Exit status: 0 after SIGINT/SIGTERM; 1 if it cannot connect, the name "
      "is taken,\nor the broker goes away; 2 for a usage error.\n");
  std::vector<std::string> args = flags.ParseOrExit(argc, argv);
  if (!args.empty()) {
    absl::FPrintF(stderr, "video-server: unexpected argument '%s'\n", args[0]);
    std::exit(2);
  }
  if (options.width < 1 || options.width > 65535 || options.height < 1 ||
      options.height > 65535) {
    absl::FPrintF(stderr,
                  "video-server: --width and --height must be 1 to 65535\n");
    std::exit(2);
  }
  return options;
}

// Renders frame `frame_number` into a new SharedBuffer and seals it
// immutable: from then on nobody, this program included, can change its
// bytes, so a receiver may keep the frame as long as it likes. A new buffer
// per frame costs fresh pages every time; a pool of buffers sealed kSizeOnly
// and refilled would not, but would have to know when every receiver is done
// with a buffer before drawing the next frame into it (README.md).
absl::StatusOr<SharedBuffer> RenderFrameBuffer(uint32_t width, uint32_t height,
                                               uint64_t frame_number) {
  absl::StatusOr<SharedBuffer> pixels = SharedBuffer::Create(
      FrameBytes(width, height), absl::StrFormat("frame-%d", frame_number));
  if (!pixels.ok()) return pixels.status();
  FillPattern(width, height, frame_number,
              reinterpret_cast<uint8_t*>(pixels->mutable_data().data()));
  if (absl::Status s = pixels->Seal(SharedBuffer::Sealing::kImmutable);
      !s.ok()) {
    return s;
  }
  return pixels;
}

// The GetFrame handler: renders the requested frame into buffer 0, or into
// Frame.rgba if the request asks for inline pixels. Runs on the client's
// dispatch thread; `frames_served` must outlive the service.
Service FrameService(uint32_t width, uint32_t height,
                     uint64_t max_payload_bytes,
                     std::atomic<uint64_t>* frames_served) {
  Service service(kServiceName);
  service.AddMethod<GetFrameRequest, Frame>(
      "GetFrame",
      [width, height, max_payload_bytes, frames_served](
          const CallInfo&, const GetFrameRequest& request)
          -> absl::StatusOr<WithBuffers<Frame>> {
        WithBuffers<Frame> reply;
        Frame& frame = reply.message;
        frame.set_width(width);
        frame.set_height(height);
        frame.set_frame_number(request.frame_number());
        const uint64_t frame_bytes = FrameBytes(width, height);
        if (request.inline_pixels()) {
          if (frame_bytes + kFrameOverheadBytes > max_payload_bytes) {
            return absl::ResourceExhaustedError(absl::StrFormat(
                "a %dx%d frame (%d bytes) does not fit inline in the broker's "
                "payload limit of %d bytes; ask for it as a buffer",
                width, height, frame_bytes, max_payload_bytes));
          }
          std::string* rgba = frame.mutable_rgba();
          rgba->resize(frame_bytes);
          FillPattern(width, height, request.frame_number(),
                      reinterpret_cast<uint8_t*>(rgba->data()));
        } else {
          absl::StatusOr<SharedBuffer> pixels =
              RenderFrameBuffer(width, height, request.frame_number());
          if (!pixels.ok()) return pixels.status();
          reply.buffers.push_back(*std::move(pixels));
        }
        frames_served->fetch_add(1, std::memory_order_relaxed);
        return reply;
      });
  return service;
}

// Blocks until SIGINT or SIGTERM arrives (OK) or the client loses the broker
// (kUnavailable). The signals must already be blocked in every thread.
absl::Status WaitForStopSignal(const sigset_t& stop_signals,
                               const Client& client) {
  // Poll the connection between waits: the client reports a lost broker only
  // through connected(), and a server without a broker serves nobody.
  const timespec poll_interval = {0, 250'000'000};
  while (true) {
    const int received = sigtimedwait(&stop_signals, nullptr, &poll_interval);
    if (received == SIGINT || received == SIGTERM) return absl::OkStatus();
    if (received < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "sigtimedwait");
    }
    if (!client.connected()) {
      return absl::UnavailableError("lost the connection to the broker");
    }
  }
}

int Run(const Options& options) {
  // Declared before the client: its handler counts here until the client's
  // destructor has stopped the dispatch thread.
  std::atomic<uint64_t> frames_served{0};

  // Block the stop signals before Connect() starts the client's thread, so
  // that thread inherits the mask and the signals reach only sigtimedwait().
  // A non-interactive shell starts background jobs with SIGINT ignored, and an
  // ignored signal is discarded rather than left pending for sigtimedwait():
  // restore the default disposition first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  ConnectOptions connect_options;
  connect_options.client_name = "video-server";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(options.address, connect_options);
  if (!client.ok()) {
    absl::FPrintF(stderr, "video-server: cannot connect to the broker: %s\n",
                  client.status().ToString());
    return 1;
  }

  const auto width = static_cast<uint32_t>(options.width);
  const auto height = static_cast<uint32_t>(options.height);
  const uint64_t max_payload_bytes = (*client)->max_payload_bytes();
  if (FrameBytes(width, height) + kFrameOverheadBytes > max_payload_bytes) {
    absl::FPrintF(stderr,
                  "video-server: note: a %dx%d frame (%d bytes) is over the "
                  "broker's payload limit of %d bytes, so it can travel only "
                  "as a file descriptor: inline requests, and callers on TCP, "
                  "will get RESOURCE_EXHAUSTED\n",
                  width, height, FrameBytes(width, height), max_payload_bytes);
  }

  absl::StatusOr<NameState> state = (*client)->Serve(
      FrameService(width, height, max_payload_bytes, &frames_served));
  if (!state.ok()) {
    if (state.status().code() == absl::StatusCode::kAlreadyExists) {
      absl::FPrintF(stderr,
                    "video-server: another connection already serves %s (is "
                    "another video-server running?): %s\n",
                    kServiceName, state.status().ToString());
    } else {
      absl::FPrintF(stderr, "video-server: cannot serve %s: %s\n", kServiceName,
                    state.status().ToString());
    }
    return 1;
  }
  absl::PrintF("video-server: serving %s on %s (%dx%d RGBA)\n", kServiceName,
               (*client)->address(), width, height);
  std::fflush(stdout);

  const absl::Status stopped = WaitForStopSignal(stop_signals, **client);
  if (!stopped.ok()) {
    absl::FPrintF(stderr, "video-server: %s\n", stopped.ToString());
    return 1;
  }
  absl::PrintF("video-server: stopping after serving %d frames\n",
               frames_served.load());
  return 0;
}

}  // namespace
}  // namespace switchboard::examples::video

int main(int argc, char** argv) {
  return switchboard::examples::video::Run(
      switchboard::examples::video::ParseOptions(argc, argv));
}
