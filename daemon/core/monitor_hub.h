// SPDX-License-Identifier: MIT
//
// MonitorHub: switchboard.Broker/Monitor (docs/PROTOCOL.md 5.6), a streamed
// call that receives a MonitorEvent, as a MORE reply, for every call,
// reply, cancel and publish it matches. Events need credit and room in the
// monitor's queue; those that find neither are counted and the count
// travels with the next event sent, so a monitor knows about everything it
// missed. It changes the context's MonitorTable; the other parts call its
// Describe*() hooks only while active(), so with no monitor they cost one
// check per frame.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_MONITOR_HUB_H_
#define SWITCHBOARD_DAEMON_CORE_MONITOR_HUB_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/core/ids.h"
#include "daemon/core/peer.h"
#include "daemon/core/router_context.h"
#include "switchboard/v1/broker.pb.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"

namespace switchboard::core {

class MonitorHub {
 public:
  // `context` must outlive the hub.
  explicit MonitorHub(RouterContext& context) : context_(context) {}
  MonitorHub(const MonitorHub&) = delete;
  MonitorHub& operator=(const MonitorHub&) = delete;

  // Whether some monitor runs.
  bool active() const { return !context_.monitors.empty(); }

  // A CALL to switchboard.Broker/Monitor: starts a monitor, or answers why
  // not (descriptors, no stream, not the broker's uid or root, a bad
  // request or pattern).
  void OnMonitorCall(const Peer& from, const wire::Frame& frame,
                     const v1::Call& call, absl::Time now);
  // CREDIT for `from`'s monitor `id`: adds `grant`. False if `from` runs no
  // such monitor.
  bool GrantCredit(SessionId from, RequestId id, uint32_t grant);
  // CANCEL of `from`'s monitor `id`: ends it CANCELLED. False if `from`
  // runs no such monitor.
  bool Cancel(SessionId from, RequestId id);
  // Ends the monitors whose deadline is at or before `now`.
  void ExpireMonitors(absl::Time now);
  // Ends every monitor with `status`.
  void EndAll(const absl::Status& status);
  // `session` is gone: its monitors end without a word.
  void ForgetSession(SessionId session) {
    context_.monitors.ForgetSession(session);
  }
  // Call `id` will get no final reply to describe (its caller left, or it
  // called itself).
  void ForgetCall(RequestId id) { context_.monitors.ForgetCall(id); }

  // Each describes one routed frame to the monitors that match it; callers
  // call them only while active().
  void DescribeCall(const Peer& from, SessionId to, const v1::Call& call,
                    RequestId id, const wire::Frame& frame);
  void DescribeReply(SessionId from, RequestId id, const wire::Frame& frame);
  // A final reply the broker gave in the callee's place (or instead of
  // forwarding the call).
  void DescribeAnswer(SessionId caller, RequestId id, absl::string_view service,
                      absl::string_view method, const absl::Status& status);
  void DescribeCancel(const Peer& from, RequestId id);
  void DescribePublish(const Peer& from, absl::string_view topic,
                       const wire::Frame& frame, uint32_t delivered);

 private:
  // Ends a monitor with a final REPLY carrying `status`.
  void EndMonitor(const Monitor& monitor, const absl::Status& status);
  // Sends `event` (with `payload` cut to each monitor's limit) to every
  // monitor matching `subject` that has credit and room; counts the others.
  void EmitEvent(absl::string_view subject, v1::MonitorEvent& event,
                 absl::string_view payload);
  std::string NameOf(SessionId session) const;

  RouterContext& context_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_MONITOR_HUB_H_
