// SPDX-License-Identifier: MIT
//
// Router: every decision the broker makes about a frame from an established
// session (docs/PROTOCOL.md sections 4-7): where a CALL goes, which REPLY
// ends which call, how much of a stream may pass (credit), which
// subscriptions a PUBLISH reaches and what each one's overflow policy
// discards, when the broker answers itself (NOT_FOUND, RESOURCE_EXHAUSTED,
// DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE, PING, REGISTER_NAME,
// RELEASE_NAME, SUBSCRIBE, UNSUBSCRIBE, switchboard.Broker), what it
// publishes on its switchboard.> topics, and which frames close a session.
// It owns the name registry, the pending-call table and the subscription
// table and acts through an Outbox, so it does no I/O and reads no clock:
// `now` is passed in.
//
// The hot paths: a CALL's protobuf header is parsed (service, method and
// timeout live there); a REPLY or CANCEL is routed from the prefix alone; a
// PUBLISH has only its topic read. Forwarding stamps the sender and request
// id into the prefix of the frame it received and hands that same buffer on:
// no header is re-serialized and no payload copied. A published frame
// becomes one shared MESSAGE that every matching subscription queues.
//
// Re-entrancy: Outbox::CloseWithError() calls back into ForgetSession(),
// which publishes switchboard.connection.closed, which may overflow other
// DISCONNECT subscriptions. The router therefore decides every close of a
// fan-out first and closes after it, when it no longer walks its tables.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_ROUTER_H_
#define SWITCHBOARD_DAEMON_CORE_ROUTER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
#include "daemon/core/schemas.h"
#include "daemon/core/subscriptions.h"
#include "google/protobuf/message_lite.h"
#include "switchboard/v1/broker.pb.h"
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
  // Handles the PUBLISH frames of `run` (wire/publish_run.h) as OnFrame()
  // would one after another, checking the topic, matching subscriptions
  // and queueing for each subscriber once for the lot.
  void OnPublishRun(const Peer& from, wire::PublishRun run, absl::Time now);

  // Ends every call whose deadline is at or before `now`: REPLY
  // DEADLINE_EXCEEDED to the caller, CANCEL to the callee. Monitors too.
  void ExpireCalls(absl::Time now);
  // When ExpireCalls() next has work, if ever.
  std::optional<absl::Time> NextDeadline();

  // Takes a sample of the traffic totals; GetStatus reports the rates
  // between the last two. The server calls it about once a second.
  void SampleTraffic(absl::Time now);
  // Where the broker listens, once it does (GetStatus).
  void set_addresses(std::vector<std::string> addresses) {
    config_.addresses = std::move(addresses);
  }

  // A session completed its handshake: remembered for the admin service and
  // published on switchboard.connection.opened.
  void OnSessionOpened(const SessionInfo& info, absl::Time now);

  // `session` is gone: its names pass to the next in line (EVENT
  // name_acquired), calls it was serving end with UNAVAILABLE to their
  // callers, calls it made are cancelled at their callees (streams too),
  // its subscriptions end, and switchboard.connection.closed is published
  // with `reason`. Idempotent.
  void ForgetSession(SessionId session, absl::string_view reason = "");

  // Ends every pending call, held call and monitor with a REPLY carrying
  // `status` to its caller (UNAVAILABLE at shutdown); callees are not told.
  void FailAllCalls(const absl::Status& status);

  // Service activation. A CALL to a name nobody owns that one of
  // `services` describes is held and the program started (once, however
  // many calls arrive) through `start`; claiming the name releases the held
  // calls to the new owner in arrival order. Replacing the services leaves
  // activations under way as they are.
  void set_activation_start(ActivationStart start) {
    start_activation_ = std::move(start);
  }
  void SetActivatableServices(std::vector<ActivatableService> services);
  // Attempt `attempt` of `name` failed for `reason` ("/usr/bin/x exited
  // with status 1 before claiming the name"): its held calls end
  // UNAVAILABLE "activation of NAME failed: REASON", and the next call to
  // the name starts it again. Nothing happens if that attempt is no longer
  // under way (the name was claimed, or it timed out).
  void OnActivationFailed(absl::string_view name, uint64_t attempt,
                          absl::string_view reason);
  const Activations& activations() const { return activations_; }

  const RouterStats& stats() const { return stats_; }
  const NameRegistry& names() const { return names_; }
  const PendingCalls& calls() const { return calls_; }
  const SubscriptionTable& subscriptions() const { return subscriptions_; }
  const SchemaRegistry& schemas() const { return schemas_; }
  const MonitorTable& monitors() const { return monitors_; }

  // What switchboard.Broker/GetStatus answers at `now`.
  v1::BrokerStatus Status(absl::Time now) const;

 private:
  // A subscriber to close once a fan-out is over (DISCONNECT policy).
  struct Closing {
    SessionId session;
    absl::Status reason;
  };
  struct FanOutResult {
    uint32_t delivered = 0;
    uint32_t dropped = 0;
    std::vector<Closing> closing;
  };

  void OnCall(const Peer& from, wire::Frame frame, absl::Time now);
  // The second half of OnCall, also for held calls once their name is
  // claimed: the callee's quotas and the buffers are checked, and the call
  // is tracked with `deadline` and forwarded, or answered with the refusal.
  void ForwardCall(const Peer& from, wire::Frame frame, const v1::Call& call,
                   SessionId callee, absl::Time deadline);
  // Holds a CALL to `service`'s name, which nobody owns, and starts its
  // program if no activation is under way.
  void HoldCall(const Peer& from, wire::Frame frame, const v1::Call& call,
                const ActivatableService& service, absl::Time deadline,
                absl::Time now, bool start_only = false);
  // switchboard.Broker/StartService (router_admin.cc).
  void OnStartService(const Peer& from, wire::Frame frame, const v1::Call& call,
                      absl::Time now);
  // `name` has an owner now: its held calls go to it.
  void ReleaseHeldCalls(absl::string_view name);
  // Ends a held call with `status` (never reached a callee).
  void FailHeldCall(const HeldCall& held, const absl::Status& status);
  // Ends an activation that failed: every held call gets UNAVAILABLE.
  void FailActivation(const Activations::Failure& failure,
                      absl::string_view reason);
  // switchboard.Broker (router_admin.cc).
  void OnBrokerCall(const Peer& from, wire::Frame& frame, const v1::Call& call,
                    absl::Time now);
  // The reply to a method other than Monitor, or why there is none.
  absl::StatusOr<std::string> AnswerBrokerCall(const Peer& from,
                                               absl::string_view method,
                                               absl::string_view request,
                                               absl::Time now);
  v1::NameList ListNames() const;
  v1::ConnectionList ListConnections() const;
  absl::StatusOr<v1::Description> Describe(const v1::DescribeRequest& request,
                                           SessionId asker) const;

  // Monitors (router_monitor.cc).
  void OnMonitorCall(const Peer& from, const wire::Frame& frame,
                     const v1::Call& call, absl::Time now);
  // Ends a monitor with a final REPLY carrying `status`.
  void EndMonitor(const Monitor& monitor, const absl::Status& status);
  // Each describes one routed frame to the monitors that match it; called
  // only when some monitor runs.
  void MonitorCall(const Peer& from, SessionId to, const v1::Call& call,
                   RequestId id, const wire::Frame& frame);
  void MonitorReply(SessionId from, RequestId id, const wire::Frame& frame);
  void MonitorAnswer(SessionId caller, RequestId id, absl::string_view service,
                     absl::string_view method, const absl::Status& status);
  void MonitorCancel(const Peer& from, RequestId id);
  void MonitorPublish(const Peer& from, absl::string_view topic,
                      const wire::Frame& frame, uint32_t delivered);
  // Sends `event` (with `payload` cut to each monitor's limit) to every
  // monitor matching `subject` that has credit and room; counts the others.
  void EmitMonitorEvent(absl::string_view subject, v1::MonitorEvent& event,
                        absl::string_view payload);
  std::string NameOf(SessionId session) const;
  void OnReply(const Peer& from, wire::Frame frame);
  void OnStreamReply(const Peer& from, wire::Frame frame);
  void OnCredit(const Peer& from, wire::Frame frame);
  void OnCancel(const Peer& from, wire::Frame frame);
  void OnPing(const Peer& from, const wire::Frame& frame);
  void OnRegisterName(const Peer& from, const wire::Frame& frame);
  void OnReleaseName(const Peer& from, const wire::Frame& frame);
  void OnError(const Peer& from, const wire::Frame& frame);
  void OnSubscribe(const Peer& from, const wire::Frame& frame);
  void OnUnsubscribe(const Peer& from, const wire::Frame& frame);
  void OnPublish(const Peer& from, wire::Frame frame);

  // Why `topic` may not be published on (malformed, reserved), or OK;
  // remembers the last topic found fine, since a publisher mostly repeats
  // it.
  absl::Status CheckPublishTopic(absl::string_view topic);
  // Why a PUBLISH on `topic` is refused, or OK.
  absl::Status CheckPublish(const Peer& from, const wire::Frame& frame,
                            absl::string_view topic);
  // Queues `message` for every subscription in `matches` by its policy.
  // Decides closes but does not close: the caller calls CloseSubscribers()
  // once it no longer relies on the tables.
  FanOutResult FanOut(const std::vector<Subscription*>& matches,
                      const std::shared_ptr<const wire::Frame>& message);
  // Queues `message` for one subscription, or drops it (or older ones) by
  // the policy; returns whether the message was queued.
  bool Offer(Subscription& subscription,
             const std::shared_ptr<const wire::Frame>& message,
             std::vector<Closing>* closing);
  // Whether some session holds two or more of `matches`.
  static bool SessionRepeats(const std::vector<Subscription*>& matches);
  // Queues every message of `run` for one subscription: as one entry if
  // they all fit its queue and its connection's, else one at a time through
  // Offer(), by the policy.
  void OfferRun(Subscription& subscription,
                const std::shared_ptr<const wire::PublishRun>& run,
                std::vector<Closing>* closing);
  // Why `bytes` (carrying `fds` descriptors) do not fit `subscription` now
  // (a DropReason), or 0 if they fit.
  uint8_t Overflow(const Subscription& subscription, size_t bytes,
                   size_t fds) const;
  void CountDrop(Subscription& subscription, DropReason reason);
  // Queues EVENT messages_dropped for the drops not reported yet, in place
  // of the subscription's last report if that one is still unwritten.
  void ReportDrops(Subscription& subscription);
  void CloseSubscribers(const std::vector<Closing>& closing);
  // Publishes a message of the broker (sender 0) on a reserved topic;
  // builds it only when some subscription matches.
  void PublishFromBroker(absl::string_view topic, absl::string_view type,
                         const google::protobuf::MessageLite& payload);
  void PublishConnection(absl::string_view topic, const SessionInfo& info,
                         absl::string_view reason);
  void PublishOwnerChanges(const std::vector<NameOwnerChange>& changes);
  // The reusable vector for one topic's matches. A nested fan-out (a close
  // inside a close) finds it taken and gets an empty one.
  std::vector<Subscription*> TakeMatchScratch();
  void ReturnMatchScratch(std::vector<Subscription*> matches);

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
  // Ends a pending call early: `status` to its caller, CANCEL to its callee.
  void EndCall(const PendingCall& call, const absl::Status& status);
  void SendEvents(const std::vector<NameEvent>& events);
  void CloseForProtocolError(const Peer& from, const absl::Status& reason);

  RouterConfig config_;
  Outbox& outbox_;
  BufferCheck check_buffers_;
  NameRegistry names_;
  PendingCalls calls_;
  SubscriptionTable subscriptions_;
  Activations activations_;
  ActivationStart start_activation_;
  // Sessions past their handshake (OnSessionOpened until ForgetSession).
  absl::flat_hash_map<SessionId, SessionInfo> sessions_;
  std::vector<Subscription*> match_scratch_;
  // The last topic CheckPublish() found well formed and not reserved: a
  // publisher mostly repeats its topic, so it is checked once.
  std::string last_allowed_topic_;
  RouterStats stats_;
  SchemaRegistry schemas_;
  MonitorTable monitors_;
  // The `now` of the frame being handled, for monitor events' times.
  absl::Time now_ = absl::UnixEpoch();
  // The last two SampleTraffic() samples, for GetStatus's rates.
  struct TrafficSample {
    absl::Time at = absl::InfinitePast();
    Traffic traffic;
  };
  TrafficSample previous_sample_;
  TrafficSample last_sample_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_ROUTER_H_
