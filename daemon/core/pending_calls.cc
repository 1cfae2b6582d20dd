// SPDX-License-Identifier: MIT
#include "daemon/core/pending_calls.h"

#include <algorithm>

#include "base/log.h"

namespace switchboard::core {

RequestId PendingCalls::Track(SessionId caller, RequestId caller_request_id,
                              SessionId callee, absl::Time deadline,
                              std::optional<uint32_t> stream_credit) {
  const uint64_t id = next_id_++;
  const bool inserted =
      sessions_[caller].made.emplace(caller_request_id.value(), id).second;
  SB_CHECK(inserted) << "request id " << caller_request_id
                     << " is already pending for " << caller;
  sessions_[callee].serving.insert(id);
  calls_.emplace(id, PendingCall{RequestId(id), caller, caller_request_id,
                                 callee, deadline, stream_credit.has_value(),
                                 stream_credit.value_or(0)});
  if (accounts_ != nullptr) accounts_->Charge(caller, Quota::kPendingCalls, 1);
  deadlines_.push_back(DeadlineEntry{deadline, id});
  std::push_heap(deadlines_.begin(), deadlines_.end(), LaterDeadline());
  // Answered calls leave dead entries behind; rebuild once they dominate,
  // which keeps the heap within twice the live calls (amortized O(1)).
  if (deadlines_.size() > 1024 && deadlines_.size() > 2 * calls_.size()) {
    CompactDeadlines();
  }
  return RequestId(id);
}

bool PendingCalls::IsPending(SessionId caller,
                             RequestId caller_request_id) const {
  auto it = sessions_.find(caller);
  return it != sessions_.end() &&
         it->second.made.contains(caller_request_id.value());
}

PendingCall PendingCalls::Remove(
    absl::flat_hash_map<uint64_t, PendingCall>::iterator it) {
  const PendingCall call = it->second;
  calls_.erase(it);
  if (accounts_ != nullptr) {
    accounts_->Refund(call.caller, Quota::kPendingCalls, 1);
  }
  if (auto s = sessions_.find(call.caller); s != sessions_.end()) {
    s->second.made.erase(call.caller_request_id.value());
  }
  if (auto s = sessions_.find(call.callee); s != sessions_.end()) {
    s->second.serving.erase(call.id.value());
  }
  return call;
}

std::optional<PendingCall> PendingCalls::TakeForReply(SessionId callee,
                                                      RequestId id) {
  auto it = calls_.find(id.value());
  if (it == calls_.end() || it->second.callee != callee) return std::nullopt;
  return Remove(it);
}

PendingCall* PendingCalls::FindForReply(SessionId callee, RequestId id) {
  auto it = calls_.find(id.value());
  if (it == calls_.end() || it->second.callee != callee) return nullptr;
  return &it->second;
}

PendingCall* PendingCalls::FindForCaller(SessionId caller,
                                         RequestId caller_request_id) {
  auto s = sessions_.find(caller);
  if (s == sessions_.end()) return nullptr;
  auto made = s->second.made.find(caller_request_id.value());
  if (made == s->second.made.end()) return nullptr;
  auto it = calls_.find(made->second);
  SB_CHECK(it != calls_.end()) << "pending-call indexes disagree";
  return &it->second;
}

std::optional<PendingCall> PendingCalls::TakeForCancel(
    SessionId caller, RequestId caller_request_id) {
  auto s = sessions_.find(caller);
  if (s == sessions_.end()) return std::nullopt;
  auto made = s->second.made.find(caller_request_id.value());
  if (made == s->second.made.end()) return std::nullopt;
  auto it = calls_.find(made->second);
  SB_CHECK(it != calls_.end()) << "pending-call indexes disagree";
  return Remove(it);
}

size_t PendingCalls::CountForCallee(SessionId callee) const {
  auto it = sessions_.find(callee);
  return it == sessions_.end() ? 0 : it->second.serving.size();
}

size_t PendingCalls::CountForCaller(SessionId caller) const {
  auto it = sessions_.find(caller);
  return it == sessions_.end() ? 0 : it->second.made.size();
}

void PendingCalls::PopDeadEntries() {
  while (!deadlines_.empty() && !calls_.contains(deadlines_.front().id)) {
    std::pop_heap(deadlines_.begin(), deadlines_.end(), LaterDeadline());
    deadlines_.pop_back();
  }
}

void PendingCalls::CompactDeadlines() {
  std::erase_if(deadlines_, [this](const DeadlineEntry& entry) {
    return !calls_.contains(entry.id);
  });
  std::make_heap(deadlines_.begin(), deadlines_.end(), LaterDeadline());
}

std::vector<PendingCall> PendingCalls::ExpireUntil(absl::Time now) {
  std::vector<PendingCall> expired;
  while (true) {
    PopDeadEntries();
    if (deadlines_.empty() || deadlines_.front().deadline > now) break;
    const uint64_t id = deadlines_.front().id;
    std::pop_heap(deadlines_.begin(), deadlines_.end(), LaterDeadline());
    deadlines_.pop_back();
    expired.push_back(Remove(calls_.find(id)));
  }
  return expired;
}

std::optional<absl::Time> PendingCalls::NextDeadline() {
  PopDeadEntries();
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.front().deadline;
}

std::vector<PendingCall> PendingCalls::ForgetSession(SessionId session) {
  std::vector<PendingCall> forgotten;
  auto s = sessions_.find(session);
  if (s == sessions_.end()) return forgotten;
  std::vector<uint64_t> ids;
  for (const auto& [caller_request_id, id] : s->second.made) ids.push_back(id);
  for (uint64_t id : s->second.serving) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (uint64_t id : ids) {
    auto it = calls_.find(id);
    if (it != calls_.end()) forgotten.push_back(Remove(it));
  }
  sessions_.erase(session);
  return forgotten;
}

std::vector<PendingCall> PendingCalls::TakeAll() {
  std::vector<PendingCall> all;
  all.reserve(calls_.size());
  for (const auto& [id, call] : calls_) all.push_back(call);
  std::sort(
      all.begin(), all.end(),
      [](const PendingCall& a, const PendingCall& b) { return a.id < b.id; });
  calls_.clear();
  for (auto& [session, calls] : sessions_) {
    if (accounts_ != nullptr) {
      accounts_->Refund(session, Quota::kPendingCalls, calls.made.size());
    }
    calls.made.clear();
    calls.serving.clear();
  }
  deadlines_.clear();
  return all;
}

}  // namespace switchboard::core
