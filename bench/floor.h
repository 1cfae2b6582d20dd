// SPDX-License-Identifier: MIT
//
// The raw-socket floors: what the same workload costs with no broker at all
// (floor-direct: client and server on one Unix socket) and with the least a
// broker could do (floor-relay: a single-threaded epoll relay that only copies
// bytes between two sockets). Their framing is a 4-byte length in host order
// followed by the bytes, over blocking sockets: nothing cheaper carries a
// message boundary.
#ifndef SWITCHBOARD_BENCH_FLOOR_H_
#define SWITCHBOARD_BENCH_FLOOR_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/workload.h"
#include "switchboard/payload.h"

namespace switchboard::bench {

// Reads length-prefixed frames from a blocking stream socket it does not own.
// A small frame usually takes one read(), and one read() brings as many small
// frames as `staging_bytes` holds (a subscriber reads 64 KiB at a time); a
// frame larger than that is read straight into a buffer that is kept and
// reused for the next large frame.
class FrameReader {
 public:
  static constexpr size_t kDefaultStagingBytes = 4096;
  explicit FrameReader(int fd, size_t staging_bytes = kDefaultStagingBytes);

  // Blocks until a whole frame arrived. The view stays valid until the next
  // call. nullopt when the peer closed the socket between frames. Errors:
  // kDataLoss if it closed mid-frame; read() failures as ErrnoToStatus.
  absl::StatusOr<std::optional<absl::string_view>> Read();

 private:
  // Appends at least one byte to staging_; false at end of stream.
  absl::StatusOr<bool> Fill();

  int fd_;
  std::string staging_;  // small frames, and the start of large ones
  size_t begin_ = 0;     // unread bytes are staging_[begin_, end_)
  size_t end_ = 0;
  std::string large_;
};

// Writes the length prefix and `payload` with one writev() (repeated only
// after a partial write). Errors from writev() as ErrnoToStatus.
absl::Status WriteFrame(int fd, absl::string_view payload);

// The client side of both floors: one blocking socket, one call at a time.
class FloorCaller {
 public:
  explicit FloorCaller(int fd) : fd_(fd), reader_(fd) {}

  // Sends `request` and waits for the reply, which stays valid until the
  // next Call(). Errors: kUnavailable if the server closed the socket;
  // others from WriteFrame() and FrameReader::Read().
  absl::StatusOr<Payload> Call(absl::string_view request);

 private:
  int fd_;
  FrameReader reader_;
};

// Role "floor-server" for floor-direct and floor-relay: answers every frame
// on `fd` (the rtt request echoed, or the pool's big frame
// BigFrameIndex(request), rendered at start-up), and prints "ready" on
// stdout first.
// Returns the exit code once the client closes the socket.
int RunFloorServer(Workload workload, int fd);

// Role "floor-relay": forwards bytes both ways between `client_fd` and
// `server_fd`, non-blocking, single-threaded epoll, one 64 KiB buffer per
// direction that is written out before more is read. Prints "ready" on
// stdout first. Returns the exit code once either side closes.
int RunRelay(int client_fd, int server_fd);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_FLOOR_H_
