// SPDX-License-Identifier: MIT
//
// InboundFds: the file descriptors a session has received and not yet
// attached to a frame (docs/PROTOCOL.md 2.5). Descriptors arrive with the
// bytes of a recvmsg(), at or before the first byte of the frames that own
// them; each frame, once complete, takes the next prefix().fd_count of them,
// first in, first out. Everything here is owned: descriptors left over when
// a session closes are closed with it.
//
// Every method runs on the loop thread.
#ifndef SWITCHBOARD_DAEMON_SERVER_INBOUND_FDS_H_
#define SWITCHBOARD_DAEMON_SERVER_INBOUND_FDS_H_

#include <cstddef>
#include <deque>
#include <vector>

#include "absl/status/status.h"
#include "base/fd.h"
#include "wire/frame.h"

namespace switchboard::server {

class InboundFds {
 public:
  // `max_fds_per_frame`: the session's limit (0 on TCP). At most one
  // sendmsg's worth (253) plus one frame's may wait at once: descriptors
  // of a frame still arriving and of the frames sent with it.
  explicit InboundFds(size_t max_fds_per_frame);

  // Queues descriptors that arrived. Errors: kInvalidArgument if more wait
  // than any sequence of frames could claim (see the constructor); the
  // descriptors are closed and the session must close.
  absl::Status Add(std::vector<Fd> fds);

  // Gives `frame`, just decoded, its prefix().fd_count descriptors.
  // Errors, after which the session must close: kInvalidArgument if fewer
  // are queued (they were not sent with the frame's first byte), or if a
  // frame of another kind than CALL, REPLY or PUBLISH claims any.
  absl::Status AttachTo(wire::Frame& frame);

  // Called when the decoder holds no partial frame: every queued descriptor
  // came with a frame that did not claim it. Errors: kInvalidArgument if
  // any are queued.
  absl::Status CheckAllClaimed() const;

  size_t size() const { return fds_.size(); }

 private:
  const size_t max_queued_;
  std::deque<Fd> fds_;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_INBOUND_FDS_H_
