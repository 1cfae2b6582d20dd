// SPDX-License-Identifier: MIT
//
// ReceivedFds: reads the socket with io::RecvWithFds() and keeps the
// descriptors that arrive (SCM_RIGHTS) in first-in, first-out order until the
// frames that claim them are complete (docs/PROTOCOL.md, section 2.5). Owned by
// the client's reader role, like the frame decoder. Until descriptors arrive
// the queue allocates nothing, so frames without them cost nothing extra.
#ifndef SWITCHBOARD_CLIENT_SRC_RECEIVED_FDS_H_
#define SWITCHBOARD_CLIENT_SRC_RECEIVED_FDS_H_

#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/fd.h"
#include "io/fd_passing.h"

namespace switchboard::client {

class ReceivedFds {
 public:
  // One io::RecvWithFds() into `into` (waiting only if `block`); the
  // descriptors that arrive join the queue. Errors as io::RecvWithFds.
  absl::StatusOr<io::Received> Receive(int socket, absl::Span<char> into,
                                       bool block);

  size_t size() const { return fds_.size() - head_; }
  bool empty() const { return size() == 0; }
  // Removes and returns the oldest `count`; requires size() >= count.
  std::vector<Fd> Take(size_t count);

 private:
  std::vector<Fd> fds_;  // fds_[head_..] are queued
  size_t head_ = 0;
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_RECEIVED_FDS_H_
