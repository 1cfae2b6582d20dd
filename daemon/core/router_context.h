// SPDX-License-Identifier: MIT
//
// RouterContext: what the router's parts share (docs/ARCHITECTURE.md,
// "The router's parts"). It holds the configuration, the outbox, the
// counters and every table the parts read, plus the few steps they all take
// (queue a frame, answer a request, check a receiver's room and
// descriptors). Each table has one part that changes it, named beside it;
// the others only read it. Router owns the context and the parts, which
// hold a reference to it.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_ROUTER_CONTEXT_H_
#define SWITCHBOARD_DAEMON_CORE_ROUTER_CONTEXT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "daemon/core/activations.h"
#include "daemon/core/ids.h"
#include "daemon/core/monitors.h"
#include "daemon/core/name_registry.h"
#include "daemon/core/outbox.h"
#include "daemon/core/peer.h"
#include "daemon/core/pending_calls.h"
#include "daemon/core/schema_checker.h"
#include "daemon/core/schemas.h"
#include "daemon/core/subscriptions.h"
#include "daemon/core/uid_accounts.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
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
  // What all the connections of one uid may hold together: names,
  // subscriptions, unanswered calls made, schema bytes (--max-*-per-uid;
  // docs/ARCHITECTURE.md "Per-uid quotas").
  UidLimits uid_limits;
  // Reported by switchboard.Broker/GetStatus.
  std::string broker_version;
  // When the broker started, on the clock of the `now` arguments (the
  // server's monotonic loop clock), and what to add to such a time to get
  // wall-clock time (for MonitorEvent times).
  absl::Time started = absl::UnixEpoch();
  absl::Duration to_wall_clock = absl::ZeroDuration();
  std::vector<std::string> addresses;
  uint32_t broker_pid = 0;
  // Also who may call switchboard.Broker/Monitor: this uid and root.
  uint32_t broker_uid = 0;
  // Service activation: calls held per name, and how long a started
  // program has to claim its name.
  ActivationLimits activation;
  // Adds what the server knows (descriptors, connections per uid,
  // memory) to a GetStatus answer; may be empty.
  std::function<void(v1::BrokerStatus&)> add_server_status;
};

// Checks the buffers (descriptors) a CALL, REPLY or PUBLISH carries before they
// are passed on (docs/PROTOCOL.md 2.5: memfds with their size sealed). Returns
// kInvalidArgument naming the buffer's index and what is wrong. The server
// supplies one that asks the kernel (F_GET_SEALS); called only for frames
// that carry descriptors.
using BufferCheck = std::function<absl::Status(const std::vector<Fd>& fds)>;

// Starts the program of an activatable service (the server's launcher).
// Attempt `attempt` is the router's number for this start; a failure that
// comes later (the program exited before claiming the name, a systemd job
// failed) is reported with Router::OnActivationFailed(name, attempt, ...).
// An error returned here (the program could not be started at all) fails
// the activation at once. It must not call back into the router.
using ActivationStart = std::function<absl::Status(
    const ActivatableService& service, uint64_t attempt)>;

// What the router knows of a session from its handshake; published on
// switchboard.connection.opened/closed and reported by the admin service.
struct SessionInfo {
  Peer peer;
  std::string client_name;
  std::string transport;  // "unix" or "tcp"
  std::string exe;        // /proc/PID/exe at accept; may be empty
  absl::Time connected = absl::UnixEpoch();
  // Everything the kernel vouches for (uid, pid and exe above repeat parts
  // of it); on TCP only the uid the broker assumes.
  v1::Identity identity;
};

// Counters for the admin service and tests; they only grow. One set for
// all parts, each counting its own.
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
  // CALL, REPLY or PUBLISH frames with descriptors that were refused:
  // unsealed or not a memfd, a receiver that takes none, or its
  // fds-in-flight quota full.
  uint64_t buffers_refused = 0;
  // Streams (docs/PROTOCOL.md 5.4).
  uint64_t streams = 0;          // streamed CALLs forwarded
  uint64_t stream_replies = 0;   // MORE replies forwarded
  uint64_t streams_overrun = 0;  // ended: a MORE reply beyond the credit
  // Ended otherwise by the broker: MORE on a unary call, or a MORE reply
  // that failed the caller's queue or descriptor checks.
  uint64_t streams_refused = 0;
  uint64_t credits_forwarded = 0;
  uint64_t credits_ignored = 0;  // grant 0, or no pending stream
  // Topics (docs/PROTOCOL.md 5.5, 6.2).
  uint64_t subscribes = 0;  // subscriptions made
  uint64_t unsubscribes = 0;
  uint64_t publishes = 0;           // PUBLISH frames accepted
  uint64_t publishes_refused = 0;   // bad or reserved topic, bad buffers
  uint64_t broker_messages = 0;     // messages the broker published
  uint64_t messages_delivered = 0;  // MESSAGE frames queued
  // Messages discarded by a policy (also those DROP_OLDEST discarded from a
  // queue after they were counted as delivered).
  uint64_t messages_dropped = 0;
  uint64_t subscribers_disconnected = 0;  // DISCONNECT policy
  uint64_t status_requests = 0;           // calls to switchboard.Broker
  // switchboard.Broker/Monitor (docs/PROTOCOL.md 5.6).
  uint64_t monitor_events = 0;  // sent to monitors
  uint64_t monitor_missed = 0;  // not sent: no credit or no room
  // Service activation (docs/ARCHITECTURE.md "Activation").
  uint64_t calls_held = 0;          // CALLs held for a name being started
  uint64_t activations = 0;         // programs the broker asked to start
  uint64_t activations_failed = 0;  // exited, timed out, failed to start
  // Sessions forgotten while the per-uid accounts still charged them for
  // something no table held: a missed refund (our bug; tests check 0).
  uint64_t uid_charges_left = 0;
};

struct RouterContext {
  // `outbox` must outlive the context.
  RouterContext(const RouterConfig& router_config, Outbox& router_outbox,
                BufferCheck buffer_check);
  RouterContext(const RouterContext&) = delete;
  RouterContext& operator=(const RouterContext&) = delete;

  // Queues `frame` for `to`, counted in stats.frames_out.
  void Deliver(SessionId to, wire::Frame frame);
  // Queues a broker REPLY carrying `status` for `to`'s `request_id`.
  void Answer(SessionId to, RequestId request_id, const absl::Status& status);
  // Closes `from` with an ERROR for what it sent (stats.protocol_errors).
  // The outbox does not call back into the router (outbox.h).
  void CloseForProtocolError(const Peer& from, const absl::Status& reason);

  // kInvalidArgument for request id 0 or one already pending for `from`
  // (a call, a monitor or a held call).
  absl::Status CheckRequestId(SessionId from, RequestId id) const;
  // For a request the broker answers itself: parses the header as `body`
  // (closing the session if it doesn't) and checks the request id
  // (answering the error if it is bad). nullopt when it has been handled.
  std::optional<v1::Header> AcceptRequest(const Peer& from,
                                          const wire::Frame& frame,
                                          v1::Header::BodyCase body);
  // Whether `bytes` more fit `session`'s queue (see max_queued_bytes).
  bool Fits(SessionId session, size_t bytes) const;
  // Why `bytes` more carrying `fds` descriptors may not be queued for `to`
  // on top of what its uid's connections hold, or the broker in all
  // (Outbox::CheckUidRoom()); the error's message starts with what
  // `what()` returns ("the reply (N bytes) does not fit"), which is called
  // only then: building text on every frame would cost the hot path.
  // OK if they may.
  template <typename What>
  absl::Status CheckUidRoom(SessionId to, size_t bytes, size_t fds,
                            What what) const {
    absl::Status room = outbox.CheckUidRoom(to, bytes, fds);
    if (room.ok()) return room;
    return absl::Status(room.code(),
                        absl::StrCat(what(), ": ", room.message()));
  }
  // Why `frame`'s descriptors may not go to `to`, or OK (also for a frame
  // without descriptors): bad seals, `to` takes no descriptors, or its
  // max_fds_in_flight quota is full.
  absl::Status CheckFds(const wire::Frame& frame, SessionId to) const;
  // Stamps `from` as the sender of a frame the router forwards.
  static void StampSender(const Peer& from, wire::Frame& frame);
  // The time a CALL asking for `timeout_us` gets (0: the default).
  absl::Duration CallTimeout(uint64_t timeout_us) const;

  RouterConfig config;
  Outbox& outbox;
  BufferCheck check_buffers;
  RouterStats stats;
  // The `now` of the frame being handled, for monitor events' times.
  absl::Time now = absl::UnixEpoch();

  // What each uid holds in the tables below, which charge it as they
  // change; declared before them, which refer to it. Sessions are bound by
  // Router (OnSessionOpened, every frame) and unbound last in ForgetSession.
  UidAccounts accounts;

  // Changed by Router (REGISTER_NAME, RELEASE_NAME, sessions leaving).
  NameRegistry names;
  // Changed by Router (a claim's schema) and BrokerService (RegisterTypes).
  SchemaRegistry schemas;
  // Checks their jobs: `inline_checker` unless Router::set_schema_checker()
  // gave another.
  InlineSchemaChecker inline_checker;
  SchemaChecker* schema_checker = &inline_checker;
  // Sessions past their handshake (OnSessionOpened until ForgetSession);
  // changed by Router.
  absl::flat_hash_map<SessionId, SessionInfo> sessions;
  // Changed by CallRouter.
  PendingCalls calls;
  Activations activations;
  // Changed by TopicRouter.
  SubscriptionTable subscriptions;
  // Changed by MonitorHub.
  MonitorTable monitors;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_ROUTER_CONTEXT_H_
