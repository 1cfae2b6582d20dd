// SPDX-License-Identifier: MIT
//
// MonitorTable: the running switchboard.Broker/Monitor streams
// (docs/PROTOCOL.md 5.6) with their patterns, credit and missed-event
// counts, and, while any runs, what the router needs to describe a call's
// replies: its service, method and types, remembered when the call was
// forwarded. With no monitor the table costs the router one empty() check
// per frame.
#ifndef SWITCHBOARD_DAEMON_CORE_MONITORS_H_
#define SWITCHBOARD_DAEMON_CORE_MONITORS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/core/ids.h"

namespace switchboard::core {

// Payload bytes copied into an event by default, and at most.
inline constexpr size_t kDefaultMonitorPayloadBytes = size_t{64} << 10;
inline constexpr size_t kMaxMonitorPayloadBytes = size_t{1} << 20;

struct Monitor {
  SessionId session;
  RequestId request_id;  // the monitor's CALL, in its caller's numbering
  std::string pattern;   // empty: everything
  uint32_t credit = 0;
  uint64_t missed = 0;  // not sent since the last event that was
  size_t max_payload_bytes = kDefaultMonitorPayloadBytes;
  absl::Time deadline = absl::InfiniteFuture();
};

// A forwarded call, as its replies are described.
struct MonitoredCall {
  std::string service;
  std::string method;
  std::string response_type;
  SessionId caller;
  SessionId callee;
};

class MonitorTable {
 public:
  bool empty() const { return monitors_.empty(); }
  size_t size() const { return monitors_.size(); }

  void Add(Monitor monitor);
  Monitor* Find(SessionId session, RequestId request_id);
  bool Has(SessionId session, RequestId request_id) const;
  // Monitors `session` runs.
  size_t CountFor(SessionId session) const;
  std::optional<Monitor> Take(SessionId session, RequestId request_id);
  // Removes and returns `session`'s monitors.
  std::vector<Monitor> ForgetSession(SessionId session);
  // Removes and returns the monitors whose deadline is at or before `now`.
  std::vector<Monitor> TakeExpired(absl::Time now);
  std::vector<Monitor> TakeAll();
  std::optional<absl::Time> NextDeadline() const;
  // The monitors whose pattern matches `subject`, in the order added.
  std::vector<Monitor*> Matching(absl::string_view subject);

  // Calls forwarded while some monitor ran, by the broker's call id; the
  // router forgets each at its final reply. Cleared when the last monitor
  // ends, so an idle table holds nothing.
  void RememberCall(RequestId id, MonitoredCall call);
  const MonitoredCall* FindCall(RequestId id) const;
  void ForgetCall(RequestId id);

 private:
  void ClearCallsIfIdle();

  std::vector<Monitor> monitors_;  // few: linear scans are fine
  absl::flat_hash_map<uint64_t, MonitoredCall> calls_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_MONITORS_H_
