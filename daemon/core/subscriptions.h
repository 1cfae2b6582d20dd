// SPDX-License-Identifier: MIT
//
// SubscriptionTable: every live subscription (docs/PROTOCOL.md 5.5), with the
// limits in force, its policy and its delivered/dropped counts, indexed by
// pattern (a TopicTrie, for matching a topic) and by session (for the
// per-session limit and for disconnects). The router decides what happens to
// each message; this table only remembers.
//
// Single-threaded. Subscription pointers stay valid until that subscription
// is removed (Remove or ForgetSession).
#ifndef SWITCHBOARD_DAEMON_CORE_SUBSCRIPTIONS_H_
#define SWITCHBOARD_DAEMON_CORE_SUBSCRIPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/core/ids.h"
#include "daemon/core/topic_trie.h"
#include "daemon/core/uid_accounts.h"
#include "switchboard/v1/header.pb.h"

namespace switchboard::core {

// Why messages were discarded for a subscription; bits, so one
// messages_dropped report can name every reason since the last one.
enum DropReason : uint8_t {
  kDropQueueFull = 1 << 0,            // its max_messages or max_bytes
  kDropConnectionQueueFull = 1 << 1,  // the connection's --max-queued-bytes
  kDropFdsInFlight = 1 << 2,          // the connection's --max-fds-in-flight
  kDropNoFds =
      1 << 3,  // the message has descriptors, the connection takes none
  // The connections of its uid hold their quota of unread output or
  // descriptors, or the broker is near its memory ceiling.
  kDropUidQuota = 1 << 4,
};

struct Subscription {
  SubscriptionKey key;
  std::string pattern;
  // The limits and policy in force (defaults applied, maxima enforced).
  uint32_t max_messages = 0;
  uint64_t max_bytes = 0;
  v1::OverflowPolicy policy = v1::OVERFLOW_POLICY_DROP_OLDEST;
  // Messages queued for it and not discarded since; a queued message that
  // DROP_OLDEST discards moves from here to `dropped`.
  uint64_t delivered = 0;
  // Messages discarded over its life, and since the last messages_dropped
  // report with the reasons (DropReason bits) for those.
  uint64_t dropped = 0;
  uint64_t unreported = 0;
  uint8_t unreported_reasons = 0;
  // What the last messages_dropped report queued said (count, reasons): a
  // later report that takes its place while it is unwritten adds to them.
  uint64_t report_count = 0;
  uint8_t report_reasons = 0;

  // Counts one discarded message.
  void RecordDrop(DropReason reason) {
    ++dropped;
    ++unreported;
    unreported_reasons |= reason;
  }
};

// The reasons in `reasons` (DropReason bits) in words, for messages_dropped.
std::string DropReasonText(uint8_t reasons);
// "drop_oldest", "drop_newest" or "disconnect" (GetStatus).
absl::string_view PolicyName(v1::OverflowPolicy policy);

struct SubscriptionLimits {
  uint32_t default_messages = 1024;
  uint32_t max_messages = 65536;
  uint64_t default_bytes = uint64_t{8} << 20;
  uint64_t max_bytes = uint64_t{256} << 20;
  size_t max_per_session = 1024;
};

class SubscriptionTable {
 public:
  // `accounts`, if given, must outlive the table; each subscription is
  // charged to its session there (Quota::kSubscriptions).
  explicit SubscriptionTable(const SubscriptionLimits& limits,
                             UidAccounts* accounts = nullptr);
  SubscriptionTable(const SubscriptionTable&) = delete;
  SubscriptionTable& operator=(const SubscriptionTable&) = delete;

  // Adds the subscription `request` asks for, for `session`, with 0 limits
  // replaced by the defaults, larger ones lowered to the maxima and policy
  // UNSPECIFIED as DROP_OLDEST. Errors: kInvalidArgument (subscription id 0
  // or in use by `session`, malformed pattern, unknown policy);
  // kResourceExhausted (`session` already holds max_per_session).
  absl::StatusOr<const Subscription*> Add(SessionId session,
                                          const v1::Subscribe& request);

  // Ends `session`'s subscription `id`. Errors: kNotFound.
  absl::Status Remove(SessionId session, uint64_t id);

  // Ends every subscription of `session`.
  void ForgetSession(SessionId session);

  // Appends every subscription whose pattern matches `topic` (a valid
  // topic) to `matches`, once each. The last topic's matches are kept until
  // a subscription comes or goes: a publisher mostly repeats its topic, so
  // most publishes skip the trie walk.
  void Match(absl::string_view topic, std::vector<Subscription*>* matches);

  // Every subscription, by session then id (GetStatus).
  std::vector<const Subscription*> All() const;
  // The first `count` of All() at most: O(size() + count log count).
  std::vector<const Subscription*> First(size_t count) const;

  size_t size() const { return subscriptions_.size(); }
  size_t CountFor(SessionId session) const;
  // Messages `session`'s subscriptions dropped, ever: O(its subscriptions)
  // (ListConnections).
  uint64_t DroppedFor(SessionId session) const;

 private:
  UidAccounts* accounts_;  // may be null
  SubscriptionLimits limits_;
  // node_hash_map: a Subscription does not move while it lives.
  absl::node_hash_map<SubscriptionKey, Subscription> subscriptions_;
  absl::flat_hash_map<SessionId, absl::flat_hash_set<uint64_t>> by_session_;
  TopicTrie trie_;
  // Match()'s result for last_topic_, while last_valid_.
  bool last_valid_ = false;
  std::string last_topic_;
  std::vector<Subscription*> last_matches_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_SUBSCRIPTIONS_H_
