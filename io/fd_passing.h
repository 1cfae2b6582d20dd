// SPDX-License-Identifier: MIT
//
// Stream I/O that carries file descriptors (docs/PROTOCOL.md 2.5): bytes go
// with sendmsg()/recvmsg() and descriptors ride as one SCM_RIGHTS control
// message. Shared by the broker's sessions and the client library.
//
// Kernel behaviour the callers rely on (AF_UNIX, SOCK_STREAM): descriptors
// passed with a sendmsg() attach to the first byte it wrote, and a recvmsg()
// never merges descriptors of two sendmsg() calls: it stops reading right
// after the bytes that carried descriptors. So the descriptors a receiver
// gets always arrive with (at or before) the first byte of the frames they
// belong to.
#ifndef SWITCHBOARD_IO_FD_PASSING_H_
#define SWITCHBOARD_IO_FD_PASSING_H_

#include <sys/uio.h>

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/fd.h"

namespace switchboard::io {

// The most descriptors one sendmsg() may pass (the kernel's SCM_MAX_FD).
inline constexpr size_t kMaxFdsPerMessage = 253;

// Writes the bytes of `iov` with one non-blocking sendmsg() (MSG_NOSIGNAL:
// a vanished peer costs EPIPE, not SIGPIPE) and passes `fds` with them as
// one SCM_RIGHTS message (no control message when `fds` is empty). The
// descriptors are duplicated into the peer; the caller still owns its own.
// Returns the bytes written: 0 means the socket was full and nothing was
// sent, descriptors included; any other count means every descriptor went,
// even if fewer bytes than offered were written, so the caller must not
// pass them again with the rest. EINTR is retried.
// Errors: kInvalidArgument for more than kMaxFdsPerMessage descriptors or an
// empty `iov` with descriptors; other failures as ErrnoToStatus("sendmsg"),
// e.g. EPIPE when the peer has gone.
absl::StatusOr<size_t> SendWithFds(int socket, absl::Span<const iovec> iov,
                                   absl::Span<const int> fds = {});

struct Received {
  // Bytes read into the buffer. 0 with `end_of_stream` false: nothing to
  // read right now (EAGAIN).
  size_t bytes = 0;
  // The peer shut down its write side or closed.
  bool end_of_stream = false;
  // MSG_CTRUNC: the kernel dropped descriptors that came with these bytes
  // (the receiving process was out of descriptors). Which descriptor
  // belongs to which frame is lost: treat the stream as broken.
  bool fds_truncated = false;
};

// Reads up to `buffer.size()` bytes with one recvmsg() and
// appends the descriptors that came with them to `fds`, owned and
// close-on-exec (MSG_CMSG_CLOEXEC), in the order sent. The control buffer
// holds kMaxFdsPerMessage descriptors, the most one sendmsg() can pass.
// The read does not wait (MSG_DONTWAIT) unless `block`; a blocking read that
// times out (SO_RCVTIMEO) returns like EAGAIN: 0 bytes, not end of stream.
// EINTR is retried. Errors: ErrnoToStatus("recvmsg"), e.g. ECONNRESET.
absl::StatusOr<Received> RecvWithFds(int socket, absl::Span<char> buffer,
                                     std::vector<Fd>& fds, bool block = false);

}  // namespace switchboard::io

#endif  // SWITCHBOARD_IO_FD_PASSING_H_
