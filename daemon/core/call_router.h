// SPDX-License-Identifier: MIT
//
// CallRouter: calls between sessions (docs/PROTOCOL.md 5.1-5.4). Where a
// CALL goes (the name's owner, or held while an activatable service starts,
// or NOT_FOUND), the callee's quotas, which REPLY ends which call, how much
// of a stream may pass (credit), CANCEL, deadlines, and the end of the
// calls of a session that leaves. It changes the context's PendingCalls and
// Activations. The hot path: a CALL's protobuf header is parsed (service,
// method and timeout live there); a REPLY, CANCEL or CREDIT is routed from
// the prefix alone, and forwarding stamps the sender and request id into
// the prefix of the frame it received: no header re-serialized, no payload
// copied.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_CALL_ROUTER_H_
#define SWITCHBOARD_DAEMON_CORE_CALL_ROUTER_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/core/activations.h"
#include "daemon/core/ids.h"
#include "daemon/core/monitor_hub.h"
#include "daemon/core/peer.h"
#include "daemon/core/router_context.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"

namespace switchboard::core {

class CallRouter {
 public:
  // A well-formed CALL to switchboard.Broker, which OnCall() leaves to the
  // broker's own service.
  struct BrokerCall {
    wire::Frame frame;
    v1::Call call;
  };

  // `context` and `monitors` must outlive the call router.
  CallRouter(RouterContext& context, MonitorHub& monitors)
      : context_(context), monitors_(monitors) {}
  CallRouter(const CallRouter&) = delete;
  CallRouter& operator=(const CallRouter&) = delete;

  // Forwards a CALL, holds it for activation, or answers it; `now` starts
  // its deadline. Returns the call instead when it is addressed to
  // switchboard.Broker and passed the checks every call gets.
  std::optional<BrokerCall> OnCall(const Peer& from, wire::Frame frame,
                                   absl::Time now);
  void OnReply(const Peer& from, wire::Frame frame);
  void OnCredit(const Peer& from, wire::Frame frame);
  void OnCancel(const Peer& from, wire::Frame frame);

  // Ends every call and held call whose deadline is at or before `now`, and
  // every activation that ran out of time.
  void ExpireCalls(absl::Time now);
  // `session` is gone: calls it was serving end UNAVAILABLE, calls it made
  // are cancelled at their callees, its held calls are dropped.
  void ForgetSession(SessionId session);
  // Ends every pending and held call with `status`; callees are not told.
  void FailAllCalls(const absl::Status& status);

  // Service activation (docs/ARCHITECTURE.md, "Activation"): see Router.
  void set_activation_start(ActivationStart start) {
    start_activation_ = std::move(start);
  }
  void SetActivatableServices(std::vector<ActivatableService> services) {
    context_.activations.SetServices(std::move(services));
  }
  // Holds a CALL to `service`'s name, which nobody owns, and starts its
  // program if no activation is under way. `start_only`: the call is
  // switchboard.Broker/StartService, answered with the new owner.
  void HoldCall(const Peer& from, wire::Frame frame, const v1::Call& call,
                const ActivatableService& service, absl::Time deadline,
                absl::Time now, bool start_only = false);
  // `name` has an owner now: its held calls go to it.
  void ReleaseHeldCalls(absl::string_view name);
  void OnActivationFailed(absl::string_view name, uint64_t attempt,
                          absl::string_view reason);

 private:
  // The second half of OnCall, also for held calls once their name is
  // claimed: the callee's quotas and the buffers are checked, and the call
  // is tracked with `deadline` and forwarded, or answered with the refusal.
  void ForwardCall(const Peer& from, wire::Frame frame, const v1::Call& call,
                   SessionId callee, absl::Time deadline);
  void OnStreamReply(const Peer& from, wire::Frame frame);
  // Ends a pending call early: `status` to its caller, CANCEL to its callee.
  void EndCall(const PendingCall& call, const absl::Status& status);
  // Ends a held call with `status` (never reached a callee).
  void FailHeldCall(const HeldCall& held, const absl::Status& status);
  // Ends an activation that failed: every held call gets UNAVAILABLE.
  void FailActivation(const Activations::Failure& failure,
                      absl::string_view reason);

  RouterContext& context_;
  MonitorHub& monitors_;
  ActivationStart start_activation_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_CALL_ROUTER_H_
