// SPDX-License-Identifier: MIT
//
// Outbox: how the router acts on sessions without doing I/O. The server
// implements it with real sockets; core tests implement it with a fake that
// records what was sent.
#ifndef SWITCHBOARD_DAEMON_CORE_OUTBOX_H_
#define SWITCHBOARD_DAEMON_CORE_OUTBOX_H_

#include <cstddef>

#include "absl/status/status.h"
#include "daemon/core/ids.h"
#include "wire/frame.h"

namespace switchboard::core {

class Outbox {
 public:
  virtual ~Outbox() = default;

  // Queues `frame` for `session`. Frames queued for one session are written
  // in the order queued. A frame for a session that is gone or closing is
  // dropped. Never blocks; the quota checks are the router's job.
  virtual void Send(SessionId session, wire::Frame frame) = 0;

  // Bytes queued for `session` and not yet written to its socket (0 if it is
  // gone).
  virtual size_t QueuedBytes(SessionId session) const = 0;

  // Descriptors queued for `session` and not yet passed to it, i.e. held by
  // the broker for it (0 if it is gone).
  virtual size_t QueuedFds(SessionId session) const = 0;

  // Whether `session` receives file descriptors: it asked for them in HELLO
  // on a Unix socket (docs/PROTOCOL.md 2.5). False if it is gone.
  virtual bool AcceptsFds(SessionId session) const = 0;

  // Ends `session` for a protocol error: sends one ERROR frame for `reason`
  // and closes it. May call back into Router::ForgetSession() before it
  // returns, so the router calls it last.
  virtual void CloseWithError(SessionId session,
                              const absl::Status& reason) = 0;

  // Closes `session` without an ERROR frame (it said it was leaving). Same
  // re-entrancy as CloseWithError().
  virtual void Disconnect(SessionId session, const absl::Status& reason) = 0;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_OUTBOX_H_
