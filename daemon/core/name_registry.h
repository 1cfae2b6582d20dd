// SPDX-License-Identifier: MIT
//
// NameRegistry: who owns each service name, who waits for it, and what
// changes when a session claims, releases or disappears
// (docs/PROTOCOL.md 5.1). Pure bookkeeping: it returns the events to send,
// and the router turns them into EVENT frames.
#ifndef SWITCHBOARD_DAEMON_CORE_NAME_REGISTRY_H_
#define SWITCHBOARD_DAEMON_CORE_NAME_REGISTRY_H_

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/core/ids.h"
#include "daemon/core/uid_accounts.h"
#include "switchboard/v1/header.pb.h"

namespace switchboard::core {

// A change of ownership that `session` must be told about.
struct NameEvent {
  enum class Type {
    kLost,      // `session` lost `name` to `new_owner` (replaced)
    kAcquired,  // `session`, queued for `name`, now owns it
  };
  Type type;
  SessionId session;
  std::string name;
  SessionId new_owner;  // kLost only

  friend bool operator==(const NameEvent&, const NameEvent&) = default;
};

// Any change of a name's owner, for switchboard.name.NAME
// (docs/PROTOCOL.md 6.2): a claim of a free name, a release, a replacement,
// a promotion from the queue, an owner's disconnect. An invalid id means no
// owner before or after.
struct NameOwnerChange {
  std::string name;
  SessionId old_owner;
  SessionId new_owner;

  friend bool operator==(const NameOwnerChange&,
                         const NameOwnerChange&) = default;
};

class NameRegistry {
 public:
  using State = v1::RegisterNameResult::State;

  // `accounts`, if given, must outlive the registry; each name a session
  // owns or is queued for is charged to it there (Quota::kNames).
  explicit NameRegistry(UidAccounts* accounts = nullptr)
      : accounts_(accounts) {}
  NameRegistry(const NameRegistry&) = delete;
  NameRegistry& operator=(const NameRegistry&) = delete;

  // Claims `name` for `session` per the table in PROTOCOL.md 5.1 and returns
  // STATE_OWNER or STATE_QUEUED; events for other sessions are appended to
  // `events`. `allow_replacement` is remembered with the claim (also a
  // queued one, for when it becomes owner). Errors: kInvalidArgument for a
  // malformed or reserved name or an unknown flag; kAlreadyExists when the
  // name is owned and the flag does not let `session` take or queue for it.
  // Every owner change is appended to `owner_changes` unless it is null; the
  // same holds for Release() and ForgetSession().
  absl::StatusOr<State> Register(
      SessionId session, absl::string_view name, v1::NameFlag flag,
      bool allow_replacement, std::vector<NameEvent>* events,
      std::vector<NameOwnerChange>* owner_changes = nullptr);

  // Gives up ownership of `name` (the first queued session becomes owner,
  // with a kAcquired event) or leaves its queue. Errors: kNotFound if
  // `session` neither owns nor queues for `name`.
  absl::Status Release(SessionId session, absl::string_view name,
                       std::vector<NameEvent>* events,
                       std::vector<NameOwnerChange>* owner_changes = nullptr);

  // Releases every name `session` owns and leaves every queue it is in,
  // appending the kAcquired events for the new owners.
  void ForgetSession(SessionId session, std::vector<NameEvent>* events,
                     std::vector<NameOwnerChange>* owner_changes = nullptr);

  // The owner of `name`, if any. The router's lookup for every CALL.
  std::optional<SessionId> OwnerOf(absl::string_view name) const;

  // Names `session` owns, sorted (admin and tests).
  std::vector<std::string> NamesOwnedBy(SessionId session) const;
  // How many names `session` owns or is queued for (what it is charged).
  size_t ClaimsOf(SessionId session) const;
  // Sessions queued for `name`, first in line first (admin and tests).
  std::vector<SessionId> QueueOf(absl::string_view name) const;
  // Whether `session` owns or queues for `name`.
  bool Holds(SessionId session, absl::string_view name) const;
  // Every owned name, sorted.
  std::vector<std::string> Names() const;
  // Up to `limit` owned names greater than `after` (from the first when
  // `after` is empty), sorted: one page of a listing. O(log n + limit) in
  // the n names owned, through the ordered index, whatever n is.
  std::vector<std::string> NamesAfter(absl::string_view after,
                                      size_t limit) const;
  size_t name_count() const { return names_.size(); }

 private:
  UidAccounts* accounts_;  // may be null
  struct Claimant {
    SessionId session;
    bool allow_replacement;
  };
  struct Entry {
    Claimant owner;
    std::deque<Claimant> queue;  // first come, first served
  };

  bool IsQueued(const Entry& entry, SessionId session) const;
  // Removes `session` from the queue of `name`; false if it was not there.
  bool Dequeue(Entry& entry, SessionId session);
  // The owner of `it` is gone: promotes the first queued claimant or erases
  // the name.
  void PassOn(absl::flat_hash_map<std::string, Entry>::iterator it,
              std::vector<NameEvent>* events,
              std::vector<NameOwnerChange>* owner_changes);
  void Index(SessionId session, absl::string_view name);
  void Unindex(SessionId session, absl::string_view name);

  absl::flat_hash_map<std::string, Entry> names_;
  // The keys of names_ in order, for listings by page (NamesAfter): the
  // hash map keeps CALL lookups O(1), this keeps a page O(log n + page)
  // rather than a sort of every name. Costs one more copy of each name.
  absl::btree_set<std::string, std::less<>> ordered_;
  // Every name each session owns or queues for, so ForgetSession touches
  // only that session's names.
  absl::flat_hash_map<SessionId, absl::flat_hash_set<std::string>> by_session_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_NAME_REGISTRY_H_
