// SPDX-License-Identifier: MIT
#include "daemon/core/name_registry.h"

#include <algorithm>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "daemon/core/names.h"

namespace switchboard::core {
namespace {

using State = v1::RegisterNameResult::State;

void ReportOwner(std::vector<NameOwnerChange>* owner_changes,
                 absl::string_view name, SessionId old_owner,
                 SessionId new_owner) {
  if (owner_changes == nullptr) return;
  owner_changes->push_back(
      NameOwnerChange{std::string(name), old_owner, new_owner});
}

absl::Status OwnedError(absl::string_view name, SessionId owner,
                        absl::string_view why) {
  std::ostringstream out;
  out << "service name '" << name << "' is owned by " << owner << why;
  return absl::AlreadyExistsError(out.str());
}

}  // namespace

bool NameRegistry::IsQueued(const Entry& entry, SessionId session) const {
  return std::any_of(entry.queue.begin(), entry.queue.end(),
                     [&](const Claimant& c) { return c.session == session; });
}

bool NameRegistry::Dequeue(Entry& entry, SessionId session) {
  auto it =
      std::find_if(entry.queue.begin(), entry.queue.end(),
                   [&](const Claimant& c) { return c.session == session; });
  if (it == entry.queue.end()) return false;
  entry.queue.erase(it);
  return true;
}

void NameRegistry::Index(SessionId session, absl::string_view name) {
  if (by_session_[session].emplace(name).second && accounts_ != nullptr) {
    accounts_->Charge(session, Quota::kNames, 1);
  }
}

void NameRegistry::Unindex(SessionId session, absl::string_view name) {
  auto it = by_session_.find(session);
  if (it == by_session_.end()) return;
  if (it->second.erase(std::string(name)) != 0 && accounts_ != nullptr) {
    accounts_->Refund(session, Quota::kNames, 1);
  }
  if (it->second.empty()) by_session_.erase(it);
}

bool NameRegistry::Holds(SessionId session, absl::string_view name) const {
  auto it = by_session_.find(session);
  return it != by_session_.end() && it->second.contains(name);
}

std::vector<std::string> NameRegistry::Names() const {
  return {ordered_.begin(), ordered_.end()};
}

std::vector<std::string> NameRegistry::NamesAfter(absl::string_view after,
                                                  size_t limit) const {
  std::vector<std::string> names;
  for (auto it = ordered_.upper_bound(after);
       it != ordered_.end() && names.size() < limit; ++it) {
    names.push_back(*it);
  }
  return names;
}

absl::StatusOr<State> NameRegistry::Register(
    SessionId session, absl::string_view name, v1::NameFlag flag,
    bool allow_replacement, std::vector<NameEvent>* events,
    std::vector<NameOwnerChange>* owner_changes) {
  if (absl::Status s = ValidateClaimableName(name); !s.ok()) return s;
  if (!v1::NameFlag_IsValid(flag)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown name flag ", static_cast<int>(flag)));
  }
  auto it = names_.find(name);
  if (it == names_.end()) {
    names_.emplace(name, Entry{Claimant{session, allow_replacement}, {}});
    ordered_.emplace(name);
    Index(session, name);
    ReportOwner(owner_changes, name, SessionId(), session);
    return v1::RegisterNameResult::STATE_OWNER;
  }
  Entry& entry = it->second;
  const bool fail_if_owned =
      flag == v1::NAME_FLAG_UNSPECIFIED || flag == v1::NAME_FLAG_FAIL_IF_OWNED;
  if (entry.owner.session == session) {
    if (fail_if_owned) {
      return absl::AlreadyExistsError(absl::StrCat(
          "service name '", name, "' is already owned by this connection"));
    }
    return v1::RegisterNameResult::STATE_OWNER;  // no change
  }
  if (fail_if_owned) {
    return OwnedError(name, entry.owner.session, "");
  }
  if (flag == v1::NAME_FLAG_REPLACE) {
    if (!entry.owner.allow_replacement) {
      return OwnedError(name, entry.owner.session,
                        ", which does not allow replacement");
    }
    // The replaced owner is told and, per the protocol, not queued.
    events->push_back(NameEvent{NameEvent::Type::kLost, entry.owner.session,
                                std::string(name), session});
    Unindex(entry.owner.session, name);
    Dequeue(entry, session);  // it may have been waiting in line
    ReportOwner(owner_changes, name, entry.owner.session, session);
    entry.owner = Claimant{session, allow_replacement};
    Index(session, name);
    return v1::RegisterNameResult::STATE_OWNER;
  }
  // NAME_FLAG_QUEUE: join the line once; asking again keeps the place.
  if (!IsQueued(entry, session)) {
    entry.queue.push_back(Claimant{session, allow_replacement});
    Index(session, name);
  }
  return v1::RegisterNameResult::STATE_QUEUED;
}

void NameRegistry::PassOn(absl::flat_hash_map<std::string, Entry>::iterator it,
                          std::vector<NameEvent>* events,
                          std::vector<NameOwnerChange>* owner_changes) {
  Entry& entry = it->second;
  const SessionId old_owner = entry.owner.session;
  if (entry.queue.empty()) {
    ReportOwner(owner_changes, it->first, old_owner, SessionId());
    ordered_.erase(it->first);
    names_.erase(it);
    return;
  }
  entry.owner = entry.queue.front();
  entry.queue.pop_front();
  ReportOwner(owner_changes, it->first, old_owner, entry.owner.session);
  events->push_back(NameEvent{NameEvent::Type::kAcquired, entry.owner.session,
                              it->first, SessionId()});
}

absl::Status NameRegistry::Release(
    SessionId session, absl::string_view name, std::vector<NameEvent>* events,
    std::vector<NameOwnerChange>* owner_changes) {
  auto it = names_.find(name);
  if (it != names_.end()) {
    if (it->second.owner.session == session) {
      Unindex(session, name);
      PassOn(it, events, owner_changes);
      return absl::OkStatus();
    }
    if (Dequeue(it->second, session)) {
      Unindex(session, name);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "this connection neither owns nor queues for service name '", name, "'"));
}

void NameRegistry::ForgetSession(SessionId session,
                                 std::vector<NameEvent>* events,
                                 std::vector<NameOwnerChange>* owner_changes) {
  auto index = by_session_.find(session);
  if (index == by_session_.end()) return;
  // Sorted, so the events come out in a stable order.
  std::vector<std::string> names(index->second.begin(), index->second.end());
  by_session_.erase(index);
  if (accounts_ != nullptr) {
    accounts_->Refund(session, Quota::kNames, names.size());
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    auto it = names_.find(name);
    if (it == names_.end()) continue;
    if (it->second.owner.session == session) {
      PassOn(it, events, owner_changes);
    } else {
      Dequeue(it->second, session);
    }
  }
}

std::optional<SessionId> NameRegistry::OwnerOf(absl::string_view name) const {
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  return it->second.owner.session;
}

size_t NameRegistry::ClaimsOf(SessionId session) const {
  auto index = by_session_.find(session);
  return index == by_session_.end() ? 0 : index->second.size();
}

std::vector<std::string> NameRegistry::NamesOwnedBy(SessionId session) const {
  std::vector<std::string> owned;
  auto index = by_session_.find(session);
  if (index == by_session_.end()) return owned;
  for (const std::string& name : index->second) {
    if (OwnerOf(name) == session) owned.push_back(name);
  }
  std::sort(owned.begin(), owned.end());
  return owned;
}

std::vector<SessionId> NameRegistry::QueueOf(absl::string_view name) const {
  std::vector<SessionId> queue;
  auto it = names_.find(name);
  if (it == names_.end()) return queue;
  for (const Claimant& c : it->second.queue) queue.push_back(c.session);
  return queue;
}

}  // namespace switchboard::core
