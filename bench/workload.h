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
#include <vector>

#include "absl/strings/string_view.h"

namespace switchboard::bench {

enum class Workload {
  kRtt,       // 64-byte call, 64-byte reply echoing it, one at a time
  kBigFrame,  // small call answered by a 33,177,600-byte reply (a 4K RGBA
              // frame)
  kPubSub,    // 64-byte messages, one publisher, one subscriber, flat out
  kFanout,    // 256-byte messages, one publisher, 8 subscribers, flat out
};

// Every workload, in the order a default run measures them.
inline constexpr Workload kAllWorkloads[] = {
    Workload::kRtt, Workload::kBigFrame, Workload::kPubSub, Workload::kFanout};

enum class System {
  kFloorDirect,  // client and server on one raw Unix socket
  kFloorRelay,   // client, a minimal epoll relay, server
  kFloorMemfd,   // one raw Unix socket; big replies as sealed memfds
  kSwitchboard,  // client, switchboardd, server, through the client library
  kSwitchboardMemfd,  // as kSwitchboard; big replies as SharedBuffers
};

// Every system, in the order a round runs them by default.
inline constexpr System kAllSystems[] = {
    System::kFloorDirect, System::kFloorRelay, System::kFloorMemfd,
    System::kSwitchboard, System::kSwitchboardMemfd};

inline constexpr size_t kRttMessageBytes = 64;
inline constexpr size_t kBigFrameRequestBytes = 16;
inline constexpr size_t kBigFrameReplyBytes = 3840 * 2160 * 4;  // 33,177,600
// Every bigframe server renders this many distinct frames at start-up, as a
// decoder's frame pool holds them, and answers call N with frame N mod 4.
inline constexpr size_t kBigFramePoolSize = 4;
inline constexpr size_t kPubSubMessageBytes = 64;
inline constexpr size_t kFanoutMessageBytes = 256;
// Subscriber processes of fanout, one connection each.
inline constexpr int kFanoutSubscribers = 8;

// The client reads one byte of every page of a big reply (and checks it), so
// each system pays for bringing the frame to the reader, not only for moving
// it between kernel buffers.
inline constexpr size_t kTouchStride = 4096;

// "rtt", "bigframe", "pubsub", "fanout" / "floor-direct", "floor-relay",
// "floor-memfd", "switchboard", "switchboard-memfd".
const char* WorkloadName(Workload workload);
const char* SystemName(System system);
std::optional<Workload> ParseWorkload(absl::string_view name);
std::optional<System> ParseSystem(absl::string_view name);

// Whether `workload` publishes messages on a topic (pubsub, fanout) rather
// than making calls (rtt, bigframe).
bool IsTopicWorkload(Workload workload);
// How many subscribers a topic workload has: 1 for pubsub, 8 for fanout.
int SubscriberCount(Workload workload);
// The size of every message a topic workload publishes.
size_t TopicMessageBytes(Workload workload);

// Whether `system` moves its replies through switchboardd.
bool ThroughBroker(System system);
// Whether `system` passes its replies as memfds rather than as bytes.
bool PassesMemfds(System system);
// Whether `system` has a variant of `workload`: the memfd systems only carry
// big frames (a 64-byte message has nothing to gain from a descriptor).
bool Measures(System system, Workload workload);

// Bytes of the request a client sends for operation `sequence`. An rtt
// request carries `sequence` in its first 8 bytes (host order: both ends are
// this program on this machine) and a fill
// derived from it; the server echoes it, so a reply proves it answers this
// very call.
std::string MakeRequest(Workload workload, uint64_t sequence);

// The size of the reply the server sends: for rtt, the request itself; for
// bigframe frame BigFrameIndex(request) of the pool rendered at start-up.
// For the topic workloads, the size of each message.
size_t ReplyBytes(Workload workload);

// Which frame of the pool answers the bigframe `request`: its sequence
// number modulo kBigFramePoolSize, so the client knows which frame to expect.
size_t BigFrameIndex(absl::string_view request);

// Renders frame `index` of the pool into `out` (kBigFrameReplyBytes): a
// pattern, distinct for each frame of the pool, that CheckReply() can verify
// from one byte per page. Takes a few tens of milliseconds; call it at
// start-up.
void RenderBigFrame(size_t index, char* out);
// The whole pool as strings, for the systems that send inline bytes.
std::vector<std::shared_ptr<const std::string>> RenderBigFramePool();

// True if `reply` is the right answer to `request`: rtt compares every byte;
// bigframe checks the size and reads (touches) one byte of every 4 KiB page,
// which must match the pool's frame BigFrameIndex(request).
bool CheckReply(Workload workload, absl::string_view request,
                absl::string_view reply);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_WORKLOAD_H_
