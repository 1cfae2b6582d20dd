// SPDX-License-Identifier: MIT
//
// Router: every decision the broker makes about a frame from an established
// session (docs/PROTOCOL.md sections 4-7). It is a thin dispatcher by kind
// over its parts (docs/ARCHITECTURE.md, "The router's parts"):
//   CallRouter     CALL, REPLY, CANCEL, CREDIT: calls, streams, deadlines,
//                  calls held for activation (call_router.h)
//   TopicRouter    SUBSCRIBE, UNSUBSCRIBE, PUBLISH: fan-out under each
//                  subscription's policy, drop reports, the broker's own
//                  switchboard.> messages (topic_router.h)
//   BrokerService  CALLs to switchboard.Broker (broker_service.h)
//   MonitorHub     switchboard.Broker/Monitor and its events (monitor_hub.h)
// and handles itself what touches several of them: PING, REGISTER_NAME,
// RELEASE_NAME, ERROR, and sessions arriving and leaving. The parts share
// one RouterContext (router_context.h) that holds the tables, counters and
// the Outbox, so the router does no I/O and reads no clock: `now` is passed
// in.
//
// The Outbox never calls back into the router (outbox.h): a close the
// router requests is finished by the server calling ForgetSession() after
// the router's entry point returned.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_ROUTER_H_
#define SWITCHBOARD_DAEMON_CORE_ROUTER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/core/activations.h"
#include "daemon/core/broker_service.h"
#include "daemon/core/call_router.h"
#include "daemon/core/ids.h"
#include "daemon/core/monitor_hub.h"
#include "daemon/core/name_registry.h"
#include "daemon/core/outbox.h"
#include "daemon/core/peer.h"
#include "daemon/core/router_context.h"
#include "daemon/core/topic_router.h"
#include "switchboard/v1/broker.pb.h"
#include "wire/frame.h"
#include "wire/publish_run.h"

namespace switchboard::core {

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
    context_.config.addresses = std::move(addresses);
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
    call_router_.set_activation_start(std::move(start));
  }
  void SetActivatableServices(std::vector<ActivatableService> services);

  // Where REGISTER_NAME schemas and RegisterTypes files are checked
  // (schema_checker.h): at once unless set. `checker` must outlive the
  // router, or be replaced (nullptr: at once again) before it goes.
  void set_schema_checker(SchemaChecker* checker) {
    context_.schema_checker =
        checker == nullptr ? &context_.inline_checker : checker;
  }
  // Attempt `attempt` of `name` failed for `reason` ("/usr/bin/x exited
  // with status 1 before claiming the name"): its held calls end
  // UNAVAILABLE "activation of NAME failed: REASON", and the next call to
  // the name starts it again. Nothing happens if that attempt is no longer
  // under way (the name was claimed, or it timed out).
  void OnActivationFailed(absl::string_view name, uint64_t attempt,
                          absl::string_view reason);
  const Activations& activations() const { return context_.activations; }

  const RouterStats& stats() const { return context_.stats; }
  const NameRegistry& names() const { return context_.names; }
  const PendingCalls& calls() const { return context_.calls; }
  const SubscriptionTable& subscriptions() const {
    return context_.subscriptions;
  }
  const SchemaRegistry& schemas() const { return context_.schemas; }
  const MonitorTable& monitors() const { return context_.monitors; }
  const UidAccounts& accounts() const { return context_.accounts; }
  const BrokerService& broker_service() const { return broker_service_; }

  // What switchboard.Broker/GetStatus answers at `now`.
  v1::BrokerStatus Status(absl::Time now) const {
    return broker_service_.Status(now);
  }

 private:
  void OnPing(const Peer& from, const wire::Frame& frame);
  void OnRegisterName(const Peer& from, const wire::Frame& frame);
  // The rest of OnRegisterName() once its schema was checked.
  void FinishRegisterName(const Peer& from, RequestId id,
                          const v1::RegisterName& claim, SchemaVerdict verdict);
  void OnReleaseName(const Peer& from, const wire::Frame& frame);
  void OnError(const Peer& from, const wire::Frame& frame);
  // Tells sessions that gained or lost a name (EVENT name_acquired,
  // name_lost); a lost name's schema goes with it.
  void SendEvents(const std::vector<NameEvent>& events);

  // The parts refer to the context and to the parts declared before them.
  RouterContext context_;
  MonitorHub monitor_hub_;
  CallRouter call_router_;
  TopicRouter topic_router_;
  BrokerService broker_service_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_ROUTER_H_
