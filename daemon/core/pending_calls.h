// SPDX-License-Identifier: MIT
//
// PendingCalls: every CALL the broker forwarded and whose final REPLY has not
// been sent yet. It maps the broker's request id (what the callee sees) to
// the caller, the caller's own request id, the callee and the deadline, and
// keeps the indexes the router needs: by caller id (CANCEL, duplicate ids),
// per callee (the pending-calls quota), per session (disconnects) and by
// deadline (a min-heap, so expiring is cheap and the next deadline is one
// read). No clock: times are passed in.
#ifndef SWITCHBOARD_DAEMON_CORE_PENDING_CALLS_H_
#define SWITCHBOARD_DAEMON_CORE_PENDING_CALLS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "daemon/core/ids.h"
#include "daemon/core/uid_accounts.h"

namespace switchboard::core {

struct PendingCall {
  RequestId id;  // the broker's id, unique for the broker's lifetime
  SessionId caller;
  RequestId caller_request_id;
  SessionId callee;
  absl::Time deadline;
  // A streamed call (docs/PROTOCOL.md 5.4) and the MORE replies the broker
  // may still forward before the caller grants more.
  bool stream = false;
  uint32_t credit = 0;
};

class PendingCalls {
 public:
  // `accounts`, if given, must outlive the table; each call is charged to
  // its caller there (Quota::kPendingCalls) while it is pending.
  explicit PendingCalls(UidAccounts* accounts = nullptr)
      : accounts_(accounts) {}
  PendingCalls(const PendingCalls&) = delete;
  PendingCalls& operator=(const PendingCalls&) = delete;

  // Starts tracking a call and returns its new broker id (1, 2, 3, ...).
  // `caller_request_id` must not be pending for `caller` (check with
  // IsPending() first; a duplicate is a bug here and crashes). With
  // `stream_credit` the call is a stream starting with that credit.
  RequestId Track(SessionId caller, RequestId caller_request_id,
                  SessionId callee, absl::Time deadline,
                  std::optional<uint32_t> stream_credit = std::nullopt);

  // Whether `caller` has a call with its own id `caller_request_id` pending.
  bool IsPending(SessionId caller, RequestId caller_request_id) const;

  // The call `callee` answers with broker id `id`, removed. std::nullopt if
  // no such call is pending (expired, cancelled, never existed) or it was
  // routed to another session; the call then stays as it was.
  std::optional<PendingCall> TakeForReply(SessionId callee, RequestId id);

  // The call `callee` answers with broker id `id`, left pending (a MORE
  // reply of a stream); nullptr as for TakeForReply(). The pointer is valid
  // until the table next changes.
  PendingCall* FindForReply(SessionId callee, RequestId id);

  // The call `caller` made with its own id `caller_request_id`, left
  // pending (CREDIT); nullptr if none. Valid until the table next changes.
  PendingCall* FindForCaller(SessionId caller, RequestId caller_request_id);

  // The call `caller` made with its own id `caller_request_id`, removed;
  // std::nullopt if none is pending.
  std::optional<PendingCall> TakeForCancel(SessionId caller,
                                           RequestId caller_request_id);

  // Calls forwarded to `callee` and not answered yet.
  size_t CountForCallee(SessionId callee) const;
  // Calls `caller` made that are still pending.
  size_t CountForCaller(SessionId caller) const;

  // Removes and returns every call whose deadline is at or before `now`,
  // earliest first.
  std::vector<PendingCall> ExpireUntil(absl::Time now);

  // The earliest deadline of a pending call, if any.
  std::optional<absl::Time> NextDeadline();

  // Removes and returns every call `session` made or was serving (a call it
  // made to itself once), in broker-id order.
  std::vector<PendingCall> ForgetSession(SessionId session);

  // Removes and returns every pending call, in broker-id order.
  std::vector<PendingCall> TakeAll();

  size_t size() const { return calls_.size(); }
  // Heap entries, live and dead (tests check that it stays bounded).
  size_t deadline_entries_for_test() const { return deadlines_.size(); }

 private:
  UidAccounts* accounts_;  // may be null
  struct SessionCalls {
    // Calls this session made: its own request id -> broker id.
    absl::flat_hash_map<uint64_t, uint64_t> made;
    // Calls this session is serving, by broker id.
    absl::flat_hash_set<uint64_t> serving;
  };
  struct DeadlineEntry {
    absl::Time deadline;
    uint64_t id;
  };
  struct LaterDeadline {
    bool operator()(const DeadlineEntry& a, const DeadlineEntry& b) const {
      return a.deadline != b.deadline ? a.deadline > b.deadline : a.id > b.id;
    }
  };

  // Removes the call from every index but the deadline heap, where it turns
  // into a dead entry that is skipped when it surfaces.
  PendingCall Remove(absl::flat_hash_map<uint64_t, PendingCall>::iterator it);
  void PopDeadEntries();
  void CompactDeadlines();

  absl::flat_hash_map<uint64_t, PendingCall> calls_;  // by broker id
  // Kept until ForgetSession(), so a busy session does not re-create its
  // entry for every call.
  absl::flat_hash_map<SessionId, SessionCalls> sessions_;
  std::vector<DeadlineEntry> deadlines_;  // min-heap
  uint64_t next_id_ = 1;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_PENDING_CALLS_H_
