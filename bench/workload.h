// SPDX-License-Identifier: MIT
//
// The bench's workloads and systems, and what every system's client and
// server agree on: request and reply bytes, and how a reply is checked. Every
// system (the raw-socket floors and switchboard) builds its messages and
// checks its replies here, so they all move and touch the same bytes.
#ifndef SWITCHBOARD_BENCH_WORKLOAD_H_
#define SWITCHBOARD_BENCH_WORKLOAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace switchboard::bench {

enum class Workload {
  kRtt,       // 64-byte call, 64-byte reply echoing it, one at a time
  kBigFrame,  // small call answered by a 33,177,600-byte reply (a 4K RGBA
              // frame)
};

enum class System {
  kFloorDirect,  // client and server on one raw Unix socket
  kFloorRelay,   // client, a minimal epoll relay, server
  kSwitchboard,  // client, switchboardd, server, through the client library
};

inline constexpr size_t kRttMessageBytes = 64;
inline constexpr size_t kBigFrameRequestBytes = 16;
inline constexpr size_t kBigFrameReplyBytes = 3840 * 2160 * 4;  // 33,177,600
// The client reads one byte of every page of a big reply (and checks it), so
// each system pays for bringing the frame to the reader, not only for moving
// it between kernel buffers.
inline constexpr size_t kTouchStride = 4096;

// "rtt", "bigframe" / "floor-direct", "floor-relay", "switchboard".
const char* WorkloadName(Workload workload);
const char* SystemName(System system);
std::optional<Workload> ParseWorkload(absl::string_view name);
std::optional<System> ParseSystem(absl::string_view name);

// Bytes of the request a client sends for operation `sequence`. An rtt
// request carries `sequence` in its first 8 bytes (host order: both ends are
// this program on this machine) and a fill
// derived from it; the server echoes it, so a reply proves it answers this
// very call.
std::string MakeRequest(Workload workload, uint64_t sequence);

// The reply the server sends: for rtt, the request itself; for bigframe the
// shared pre-rendered frame (request ignored).
size_t ReplyBytes(Workload workload);

// Renders the bigframe reply once: a pattern CheckReply() can verify from one
// byte per page. Takes a few tens of milliseconds; call it at start-up.
std::shared_ptr<const std::string> RenderBigFrame();

// True if `reply` is the right answer to `request`: rtt compares every byte;
// bigframe checks the size and reads (touches) one byte of every 4 KiB page.
bool CheckReply(Workload workload, absl::string_view request,
                absl::string_view reply);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_WORKLOAD_H_
