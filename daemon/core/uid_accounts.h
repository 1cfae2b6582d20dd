// SPDX-License-Identifier: MIT
//
// UidAccounts: what each uid holds in the router's tables, summed over all
// of its connections, against the per-uid quotas (docs/ARCHITECTURE.md,
// "Per-uid quotas"). The tables charge and refund it at exactly the points
// where they change (NameRegistry, SubscriptionTable, PendingCalls,
// SchemaRegistry); the router's parts check it before a request would add
// to a table. It knows a session's uid once the session is bound (at
// OnSessionOpened and on every frame it sends), and it keeps each session's
// own share, so forgetting a session can never leave a count behind.
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_UID_ACCOUNTS_H_
#define SWITCHBOARD_DAEMON_CORE_UID_ACCOUNTS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "daemon/core/ids.h"

namespace switchboard::core {

// What a uid is charged for, and who pays:
enum class Quota {
  kNames,          // names its connections own or wait in line for
  kSubscriptions,  // subscriptions its connections hold
  kPendingCalls,   // unanswered calls its connections made (the caller pays)
  kSchemaBytes,    // bytes of schema its connections made the broker keep
};
inline constexpr size_t kQuotaCount = 4;

// The per-uid limits (switchboardd's --max-*-per-uid flags).
struct UidLimits {
  size_t max_names = 4096;
  size_t max_subscriptions = 16384;
  size_t max_pending_calls = 65536;
  size_t max_schema_bytes = size_t{16} << 20;
};

// What one uid (or one session) holds, by Quota.
struct Usage {
  std::array<size_t, kQuotaCount> held{};
  size_t of(Quota quota) const { return held[static_cast<size_t>(quota)]; }
  size_t& of(Quota quota) { return held[static_cast<size_t>(quota)]; }
  bool empty() const {
    for (size_t n : held) {
      if (n != 0) return false;
    }
    return true;
  }
};

class UidAccounts {
 public:
  explicit UidAccounts(const UidLimits& limits) : limits_(limits) {}
  UidAccounts(const UidAccounts&) = delete;
  UidAccounts& operator=(const UidAccounts&) = delete;

  // Records that `session` belongs to `uid`. A session is bound once; later
  // calls for it change nothing (a session's uid never changes).
  void Bind(SessionId session, uint32_t uid);
  // OK if `session`'s uid may take `more` of `quota`; otherwise
  // kResourceExhausted naming the uid, what it holds, the limit and its
  // flag. OK for a session not bound (nothing to charge it to).
  absl::Status Check(SessionId session, Quota quota, size_t more) const;
  // Charges `n` of `quota` to `session` (and its uid); nothing if the
  // session is not bound.
  void Charge(SessionId session, Quota quota, size_t n);
  // Gives back `n` of `quota`, at most what `session` holds.
  void Refund(SessionId session, Quota quota, size_t n);
  // Unbinds `session`, giving back whatever it still holds (the tables
  // forget it first, so normally nothing), and returns that remainder.
  Usage ForgetSession(SessionId session);

  // What `uid` holds now (all zero for an unknown uid).
  Usage UsageOf(uint32_t uid) const;
  // Every uid with a bound session, sorted by uid.
  std::vector<std::pair<uint32_t, Usage>> All() const;
  // Requests refused at a quota, by Quota, ever.
  using Refusals = std::array<uint64_t, kQuotaCount>;
  // Every uid refused anything ever, sorted by uid.
  std::vector<std::pair<uint32_t, Refusals>> AllRefused() const;
  const UidLimits& limits() const { return limits_; }

 private:
  struct SessionShare {
    uint32_t uid = 0;
    Usage usage;
  };
  struct UidTotal {
    size_t sessions = 0;
    Usage usage;
  };
  size_t LimitOf(Quota quota) const;

  UidLimits limits_;
  absl::flat_hash_map<SessionId, SessionShare> sessions_;
  absl::flat_hash_map<uint32_t, UidTotal> uids_;
  // Counted by Check(), which is otherwise a query; kept after the uid's
  // sessions are gone (uids are few).
  mutable absl::flat_hash_map<uint32_t, Refusals> refused_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_UID_ACCOUNTS_H_
