// SPDX-License-Identifier: MIT
//
// RawConnection: a plain socket to the broker with no client library in
// between, for tests that send what a real client never would (garbage,
// oversized lengths, truncated frames, wrong versions, forged senders) and
// check exactly what the broker answers and whether it closes the
// connection. Frames are built and read with the same wire codec the broker
// uses. Every read has a deadline; nothing blocks forever.
#ifndef SWITCHBOARD_TESTS_TESTING_RAW_CONNECTION_H_
#define SWITCHBOARD_TESTS_TESTING_RAW_CONNECTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/fd.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"
#include "wire/frame_decoder.h"
#include "wire/prefix.h"

namespace switchboard::testing {

// An encoded frame with the given kind, request id and header (serialized
// here) and payload; all other prefix fields zero.
std::string EncodeFrame(wire::Kind kind, uint64_t request_id,
                        const v1::Header& header,
                        absl::string_view payload = {});

class RawConnection {
 public:
  // Connects to `address` ("unix:PATH" or "tcp:HOST:PORT") and sends
  // nothing. Errors: those of io::Address::Parse and io::ConnectStream.
  static absl::StatusOr<RawConnection> Connect(absl::string_view address);

  RawConnection(RawConnection&&) = default;
  RawConnection& operator=(RawConnection&&) = default;

  // Writes all of `bytes` (blocking). Errors: kUnavailable if the broker
  // closed the connection (EPIPE, ECONNRESET); errno otherwise. Never
  // raises SIGPIPE.
  absl::Status Send(absl::string_view bytes);
  absl::Status SendFrame(const wire::Frame& frame) {
    return Send(frame.bytes());
  }
  absl::Status SendFrame(wire::Kind kind, uint64_t request_id,
                         const v1::Header& header,
                         absl::string_view payload = {}) {
    return Send(EncodeFrame(kind, request_id, header, payload));
  }

  // Writes all of `bytes` (blocking), passing `fds` (duplicated; the caller
  // keeps its own) as one SCM_RIGHTS message with the first byte, as
  // docs/PROTOCOL.md 2.5 says a sender does. The prefix's fd_count is
  // whatever `bytes` hold, so tests can make it disagree with `fds`.
  // Errors as Send(); kInvalidArgument for empty `bytes`.
  absl::Status SendWithFds(absl::string_view bytes, absl::Span<const int> fds);

  // Sends HELLO (with `token`, empty on Unix sockets, and `features`, e.g.
  // {"fds"}) and reads the answer. Returns the WELCOME. Errors:
  // kFailedPrecondition naming the kind or the ERROR the broker sent
  // instead; those of ReadFrame().
  absl::StatusOr<v1::Welcome> Handshake(
      absl::string_view token, absl::Duration timeout = absl::Seconds(10),
      const std::vector<std::string>& features = {});

  // The next whole frame. Errors: kDeadlineExceeded if none arrived within
  // `timeout`; kUnavailable if the broker closed the connection (the
  // message says how many bytes of a partial frame were left); the
  // decoder's error for a malformed frame.
  absl::StatusOr<wire::Frame> ReadFrame(absl::Duration timeout);

  // Reads until the broker closes the connection and returns the frames
  // that came meanwhile. Errors: kDeadlineExceeded if the connection is
  // still open after `timeout`; a decoder error.
  absl::StatusOr<std::vector<wire::Frame>> ReadUntilClosed(
      absl::Duration timeout);

  // Expects exactly one more frame, an ERROR, and then the end of the
  // connection. Returns the ERROR's header body. Errors: kFailedPrecondition
  // if another frame came, or more than one; those of ReadUntilClosed().
  absl::StatusOr<v1::Error> ReadErrorAndClose(
      absl::Duration timeout = absl::Seconds(10));

  // Stops sending (shutdown(SHUT_WR)); the broker sees end of stream.
  void ShutdownWrite();
  // Closes the socket.
  void Close() { fd_.reset(); }
  int fd() const { return fd_.get(); }

 private:
  explicit RawConnection(Fd fd);

  Fd fd_;
  wire::FrameDecoder decoder_;
  bool closed_by_peer_ = false;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_RAW_CONNECTION_H_
