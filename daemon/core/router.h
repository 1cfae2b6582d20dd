// SPDX-License-Identifier: MIT
//
// Router: every decision the broker makes about a frame from an established
// session (docs/PROTOCOL.md sections 4-7): where a CALL goes, which REPLY
// ends which call, when the broker answers itself (NOT_FOUND,
// RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE, PING,
// REGISTER_NAME, RELEASE_NAME), and which frames close a session. It owns
// the name registry and the pending-call table and acts through an Outbox,
// so it does no I/O and reads no clock: `now` is passed in.
//
// The hot path: a CALL's protobuf header is parsed (service, method and
// timeout live there); a REPLY or CANCEL is routed from the prefix alone.
// Forwarding stamps the sender and request id into the prefix of the frame
// it received and hands that same buffer on: no header is re-serialized and
// no payload copied.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_ROUTER_H_
#define SWITCHBOARD_DAEMON_CORE_ROUTER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "daemon/core/ids.h"
#include "daemon/core/name_registry.h"
#include "daemon/core/outbox.h"
#include "daemon/core/pending_calls.h"
#include "wire/frame.h"

namespace switchboard::core {

// Calls may not ask for more than this; longer timeouts are clamped.
inline constexpr absl::Duration kMaxCallTimeout = absl::Hours(24);

struct RouterConfig {
  // Unanswered calls one callee may have before further calls to it are
  // refused with RESOURCE_EXHAUSTED (--max-pending-calls).
  size_t max_pending_calls = 4096;
  // Output a session may have queued (--max-queued-bytes). A frame that
  // would take a session's queue past it is refused (a CALL) or replaced by
  // a small RESOURCE_EXHAUSTED reply (a REPLY), unless the queue is empty:
  // one frame always fits an empty queue, so a frame larger than the quota
  // still reaches a session that keeps up.
  size_t max_queued_bytes = size_t{256} << 20;
  // Deadline of a CALL whose timeout_us is 0 (--call-timeout).
  absl::Duration default_call_timeout = absl::Seconds(30);
  // Descriptors the broker may hold for one session, queued and not yet
  // passed to it (--max-fds-in-flight). Like max_queued_bytes: a CALL or
  // REPLY whose descriptors would take the receiver past it is refused with
  // RESOURCE_EXHAUSTED, unless the receiver holds none.
  size_t max_fds_in_flight = 1024;
  // Subscriptions (docs/PROTOCOL.md 5.5). A SUBSCRIBE limit of 0 takes the
  // default (--subscription-max-messages, --subscription-max-bytes); larger
  // requests are lowered to the maximum (max_queued_bytes for bytes).
  uint32_t subscription_default_messages = 1024;
  uint64_t subscription_default_bytes = uint64_t{8} << 20;
  uint32_t subscription_max_messages = 65536;
  // Subscriptions one connection may hold (--max-subscriptions).
  size_t max_subscriptions = 1024;
  // Reported by switchboard.Broker/GetStatus.
  std::string broker_version;
  absl::Time started = absl::UnixEpoch();
};

// Checks the buffers (descriptors) a CALL, REPLY or PUBLISH carries before they
// are passed on (docs/PROTOCOL.md 2.5: memfds with their size sealed). Returns
// kInvalidArgument naming the buffer's index and what is wrong. The server
// supplies one that asks the kernel (F_GET_SEALS); called only for frames
// that carry descriptors.
using BufferCheck = std::function<absl::Status(const std::vector<Fd>& fds)>;

// The sending session's identity, stamped into what it sends.
struct Peer {
  SessionId id;
  uint32_t uid = 0;
  uint32_t pid = 0;
  // It receives file descriptors (docs/PROTOCOL.md 2.5): stamped as the
  // SENDER_ACCEPTS_FDS flag on what it sends.
  bool accepts_fds = false;
};

// What the router knows of a session from its handshake; published on
// switchboard.connection.opened/closed and reported by the admin service.
struct SessionInfo {
  Peer peer;
  std::string client_name;
  std::string transport;  // "unix" or "tcp"
};

// Counters for the admin service and tests; they only grow.
struct RouterStats {
  uint64_t frames_in = 0;   // frames handed to OnFrame()
  uint64_t frames_out = 0;  // frames handed to the outbox
  uint64_t calls = 0;       // CALL frames received
  uint64_t calls_forwarded = 0;
  uint64_t calls_refused = 0;  // answered at once: invalid, NOT_FOUND, quota
  uint64_t replies_forwarded = 0;
  uint64_t late_replies = 0;        // REPLY for no pending call: discarded
  uint64_t replies_over_quota = 0;  // replaced by RESOURCE_EXHAUSTED
  uint64_t deadlines_exceeded = 0;
  uint64_t calls_cancelled = 0;    // by the caller's CANCEL
  uint64_t calls_unavailable = 0;  // callee gone, or broker shutting down
  uint64_t cancels_ignored = 0;    // CANCEL for no pending call
  uint64_t pings = 0;
  uint64_t protocol_errors = 0;  // sessions closed for what they sent
  // CALL or REPLY frames with descriptors that were refused: unsealed or not
  // a memfd, a receiver that takes none, or its fds-in-flight quota full.
  uint64_t buffers_refused = 0;
};

class Router {
 public:
  // `outbox` must outlive the router. `check_buffers` vets the descriptors
  // of every CALL and REPLY that carries some.
  Router(const RouterConfig& config, Outbox& outbox, BufferCheck check_buffers);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Handles one frame from an established session (after WELCOME). `now`
  // starts a CALL's deadline.
  void OnFrame(const Peer& from, wire::Frame frame, absl::Time now);

  // Ends every call whose deadline is at or before `now`: REPLY
  // DEADLINE_EXCEEDED to the caller, CANCEL to the callee.
  void ExpireCalls(absl::Time now);
  // When ExpireCalls() next has work, if ever.
  std::optional<absl::Time> NextDeadline() { return calls_.NextDeadline(); }

  // A session completed its handshake: remembered for the admin service and
  // published on switchboard.connection.opened.
  void OnSessionOpened(const SessionInfo& info, absl::Time now);

  // `session` is gone: its names pass to the next in line (EVENT
  // name_acquired), calls it was serving end with UNAVAILABLE to their
  // callers, calls it made are cancelled at their callees (streams too),
  // its subscriptions end, and switchboard.connection.closed is published
  // with `reason`. Idempotent.
  void ForgetSession(SessionId session, absl::string_view reason = "");

  // Ends every pending call with a REPLY carrying `status` to its caller
  // (UNAVAILABLE at shutdown); callees are not told.
  void FailAllCalls(const absl::Status& status);

  const RouterStats& stats() const { return stats_; }
  const NameRegistry& names() const { return names_; }
  const PendingCalls& calls() const { return calls_; }

 private:
  void OnCall(const Peer& from, wire::Frame frame, absl::Time now);
  void OnReply(const Peer& from, wire::Frame frame);
  void OnCancel(const Peer& from, wire::Frame frame);
  void OnPing(const Peer& from, const wire::Frame& frame);
  void OnRegisterName(const Peer& from, const wire::Frame& frame);
  void OnReleaseName(const Peer& from, const wire::Frame& frame);
  void OnError(const Peer& from, const wire::Frame& frame);

  // For a request the broker answers itself: parses the header as `body`
  // (closing the session if it doesn't) and checks the request id
  // (answering the error if it is bad). nullopt when it has been handled.
  std::optional<v1::Header> AcceptRequest(const Peer& from,
                                          const wire::Frame& frame,
                                          v1::Header::BodyCase body);
  // kInvalidArgument for request id 0 or one already pending for `from`.
  absl::Status CheckRequestId(SessionId from, RequestId id) const;
  // Whether `bytes` more fit `session`'s queue (see max_queued_bytes).
  bool Fits(SessionId session, size_t bytes) const;
  // Why `frame`'s descriptors may not go to `to`, or OK (also for a frame
  // without descriptors): bad seals, `to` takes no descriptors, or its
  // max_fds_in_flight quota is full.
  absl::Status CheckFds(const wire::Frame& frame, SessionId to) const;
  // Stamps `from` as the sender of a frame the router forwards.
  static void StampSender(const Peer& from, wire::Frame& frame);
  absl::Duration CallTimeout(uint64_t timeout_us) const;

  void Deliver(SessionId to, wire::Frame frame);
  void Answer(SessionId to, RequestId request_id, const absl::Status& status);
  void SendEvents(const std::vector<NameEvent>& events);
  void CloseForProtocolError(const Peer& from, const absl::Status& reason);

  RouterConfig config_;
  Outbox& outbox_;
  BufferCheck check_buffers_;
  NameRegistry names_;
  PendingCalls calls_;
  RouterStats stats_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_ROUTER_H_
