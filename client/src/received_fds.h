// SPDX-License-Identifier: MIT
//
// ReceivedFds: reads the socket with recvmsg() and keeps the descriptors that
// arrive (SCM_RIGHTS) in first-in, first-out order until the frames that
// claim them are complete (docs/PROTOCOL.md, section 2.5). Owned by the
// client's reader role, like the frame decoder. Until descriptors arrive the
// queue allocates nothing, so frames without them cost nothing extra.
#ifndef SWITCHBOARD_CLIENT_SRC_RECEIVED_FDS_H_
#define SWITCHBOARD_CLIENT_SRC_RECEIVED_FDS_H_

#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "absl/types/span.h"
#include "base/fd.h"

namespace switchboard::client {

class ReceivedFds {
 public:
  // Most descriptors one recvmsg() can bring (the kernel's SCM_MAX_FD).
  static constexpr size_t kMaxFdsPerRead = 253;

  // recvmsg() into `into` with `flags` (plus MSG_CMSG_CLOEXEC); descriptors
  // that arrive join the queue. Returns what recv() would. A control message
  // the kernel had to cut short (MSG_CTRUNC; its descriptors are lost) sets
  // truncated(): the stream can no longer be matched to its frames.
  ssize_t Receive(int socket, absl::Span<char> into, int flags);
  bool truncated() const { return truncated_; }

  size_t size() const { return fds_.size() - head_; }
  bool empty() const { return size() == 0; }
  // Removes and returns the oldest `count`; requires size() >= count.
  std::vector<Fd> Take(size_t count);

 private:
  std::vector<Fd> fds_;  // fds_[head_..] are queued
  size_t head_ = 0;
  bool truncated_ = false;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_RECEIVED_FDS_H_
