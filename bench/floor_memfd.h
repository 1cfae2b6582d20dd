// SPDX-License-Identifier: MIT
//
// floor-memfd: the least that handing a big frame to another process as a
// file descriptor can cost, with no broker. Client and server share one raw
// Unix socket, framed as in floor.h. The server renders its pool of frames
// into memfds at start-up, seals their size (F_SEAL_SHRINK | F_SEAL_GROW |
// F_SEAL_SEAL) and keeps its writable mappings, as SharedBuffer's kSizeOnly
// does: a decoder's frame pool it could refill later. Each reply is an 8-byte
// frame holding the buffer's size, with the memfd passed as SCM_RIGHTS on its
// first byte; the client maps the descriptor read-only, reads it, unmaps it and
// closes it.
#ifndef SWITCHBOARD_BENCH_FLOOR_MEMFD_H_
#define SWITCHBOARD_BENCH_FLOOR_MEMFD_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/floor.h"
#include "switchboard/payload.h"

namespace switchboard::bench {

// The client side: one blocking socket it does not own, one call at a time.
class FloorMemfdCaller {
 public:
  explicit FloorMemfdCaller(int fd) : fd_(fd) {}

  // Sends `request` and waits for the reply and its memfd. The returned
  // Payload views the whole buffer, mapped read-only; the mapping is removed
  // and the descriptor closed when the Payload (and its copies) go. Errors:
  // kUnavailable if the server closed the socket; kDataLoss if a reply came
  // without exactly one descriptor or was truncated; system call failures
  // as ErrnoToStatus.
  absl::StatusOr<Payload> Call(absl::string_view request);

 private:
  int fd_;
};

// Role "floor-server" for floor-memfd: renders the pool into sealed memfds,
// prints "ready", then answers every request on `fd` with the pool's frame
// BigFrameIndex(request). Returns the exit code once the client closes.
int RunFloorMemfdServer(int fd);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_FLOOR_MEMFD_H_
