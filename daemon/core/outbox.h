// SPDX-License-Identifier: MIT
//
// Outbox: how the router acts on sessions without doing I/O. The server
// implements it with real sockets; core tests implement it with a fake that
// records what was sent. The seam is one-way: no method calls back into the
// router (see CloseWithError()).
#ifndef SWITCHBOARD_DAEMON_CORE_OUTBOX_H_
#define SWITCHBOARD_DAEMON_CORE_OUTBOX_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "daemon/core/ids.h"
#include "wire/frame.h"
#include "wire/publish_run.h"

namespace switchboard::core {

// Frames and bytes read from and queued or written to connections.
struct Traffic {
  uint64_t frames_in = 0;   // frames read
  uint64_t frames_out = 0;  // frames queued
  uint64_t bytes_in = 0;    // bytes read
  uint64_t bytes_out = 0;   // bytes written

  friend bool operator==(const Traffic&, const Traffic&) = default;
};

class Outbox {
 public:
  virtual ~Outbox() = default;

  // Queues `frame` for `session`. Frames queued for one session are written
  // in the order queued. A frame for a session that is gone or closing is
  // dropped. Never blocks; the quota checks are the router's job.
  virtual void Send(SessionId session, wire::Frame frame) = 0;

  // Queues one MESSAGE for `session`'s subscription `subscription`.
  // `message` is shared by every subscription it goes to and never changes;
  // the session writes a 40-byte prefix of its own, a copy of the message's
  // with request_id = `subscription`, followed by the message's header and
  // payload bytes, and passes its descriptors. Queued in order with Send().
  // Dropped if the session is gone or closing.
  virtual void SendMessage(SessionId session, uint64_t subscription,
                           std::shared_ptr<const wire::Frame> message) = 0;

  // Queues every message of `run` (MESSAGE frames, see wire/publish_run.h)
  // for `session`'s subscription `subscription`, as SendMessage() would one
  // by one: `run` is shared by every subscription it goes to, each message
  // is written with request_id = `subscription`, and each counts in
  // QueuedMessages() and can be dropped by DropOldestMessage() on its own.
  virtual void SendRun(SessionId session, uint64_t subscription,
                       std::shared_ptr<const wire::PublishRun> run) = 0;

  // Queues `report`, an EVENT messages_dropped for `session`'s subscription
  // `subscription`. If the report queued last for that subscription is
  // still wholly unwritten (HasUnsentDropReport()), `report` takes its
  // place in the queue; otherwise it goes at the end, like Send(). Dropped
  // if the session is gone or closing.
  virtual void SendDropReport(SessionId session, uint64_t subscription,
                              wire::Frame report) = 0;
  // Whether the drop report queued last for `session`'s `subscription` has
  // not had a byte written yet, so that SendDropReport() replaces it.
  virtual bool HasUnsentDropReport(SessionId session,
                                   uint64_t subscription) const = 0;

  // Messages of `subscription` queued for `session` whose first byte has
  // not been written yet (a message partly written counts as gone), and
  // their bytes (whole frames). Zeros if none or the session is gone.
  struct Queued {
    size_t messages = 0;
    size_t bytes = 0;
  };
  virtual Queued QueuedMessages(SessionId session,
                                uint64_t subscription) const = 0;

  // Removes the oldest message of `subscription` that QueuedMessages()
  // counts from `session`'s queue; returns its bytes, or 0 if there was
  // none.
  virtual size_t DropOldestMessage(SessionId session,
                                   uint64_t subscription) = 0;

  // Writes what `session`'s socket takes of its queue now rather than at
  // the end of the loop iteration. The router calls it before it drops
  // anything for a full subscription: the broker reads a burst of many
  // frames before it writes, and a subscriber that keeps up must not pay
  // for that batching with drops. Never closes the session or calls back
  // into the router; a failed write is left for the regular flush.
  virtual void WriteNow(SessionId session) = 0;

  // The memory `session`'s output holds, which its --max-queued-bytes quota
  // is charged: bytes queued and not yet written to its socket plus each
  // queued frame's bookkeeping in the broker. 0 if nothing is queued or the
  // session is gone.
  virtual size_t QueuedBytes(SessionId session) const = 0;

  // Descriptors queued for `session` and not yet passed to it, i.e. held by
  // the broker for it (0 if it is gone).
  virtual size_t QueuedFds(SessionId session) const = 0;

  // Why `bytes` more of output and `fds` more descriptors may not be queued
  // for `session` on top of what all connections of its uid hold (their
  // memory and descriptor quotas) and of what the broker holds in all (its
  // memory ceiling): kResourceExhausted naming the limit and its flag, or
  // OK. Unlike the per-connection quota, these hold for an empty queue too.
  // The server counts each refusal against the uid. OK if `session` is
  // gone.
  virtual absl::Status CheckUidRoom(SessionId session, size_t bytes,
                                    size_t fds) = 0;

  // `session`'s traffic so far (zeros if it is gone), and that of every
  // connection the broker ever had, for the admin service.
  virtual Traffic SessionTraffic(SessionId session) const = 0;
  virtual Traffic TotalTraffic() const = 0;

  // Whether `session` receives file descriptors: it asked for them in HELLO
  // on a Unix socket (docs/PROTOCOL.md 2.5). False if it is gone.
  virtual bool AcceptsFds(SessionId session) const = 0;

  // Ends `session` for a protocol error: queues one ERROR frame for
  // `reason` and closes it. The session is closing from then on: what is
  // later queued for it is dropped. Does nothing if it is gone or closing
  // already.
  //
  // Never calls back into the router. The router learns that the session
  // is gone the usual way, through Router::ForgetSession(), which the
  // implementation calls once the router's entry point that asked for the
  // close (OnFrame, OnPublishRun, ExpireCalls, ForgetSession, ...) has
  // returned, and before it hands the router anything else. So the router
  // may close sessions in the middle of walking its tables.
  virtual void CloseWithError(SessionId session,
                              const absl::Status& reason) = 0;

  // Closes `session` without an ERROR frame (it said it was leaving). Same
  // contract as CloseWithError().
  virtual void Disconnect(SessionId session, const absl::Status& reason) = 0;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_OUTBOX_H_
