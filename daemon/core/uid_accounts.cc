// SPDX-License-Identifier: MIT
#include "daemon/core/uid_accounts.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace switchboard::core {

void UidAccounts::Bind(SessionId session, uint32_t uid) {
  auto [it, inserted] = sessions_.try_emplace(session);
  if (!inserted) return;
  it->second.uid = uid;
  ++uids_[uid].sessions;
}

size_t UidAccounts::LimitOf(Quota quota) const {
  switch (quota) {
    case Quota::kNames:
      return limits_.max_names;
    case Quota::kSubscriptions:
      return limits_.max_subscriptions;
    case Quota::kPendingCalls:
      return limits_.max_pending_calls;
    case Quota::kSchemaBytes:
      return limits_.max_schema_bytes;
  }
  return 0;
}

absl::Status UidAccounts::Check(SessionId session, Quota quota,
                                size_t more) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return absl::OkStatus();
  const uint32_t uid = it->second.uid;
  const size_t held = uids_.at(uid).usage.of(quota);
  const size_t limit = LimitOf(quota);
  if (held <= limit && more <= limit - held) return absl::OkStatus();
  ++refused_[uid][static_cast<size_t>(quota)];
  switch (quota) {
    case Quota::kNames:
      return absl::ResourceExhaustedError(
          absl::StrCat("uid ", uid, " holds ", held,
                       " names (owned or queued for), its limit "
                       "(--max-names-per-uid)"));
    case Quota::kSubscriptions:
      return absl::ResourceExhaustedError(
          absl::StrCat("uid ", uid, " holds ", held,
                       " subscriptions, its limit "
                       "(--max-subscriptions-per-uid)"));
    case Quota::kPendingCalls:
      return absl::ResourceExhaustedError(
          absl::StrCat("uid ", uid, " has ", held,
                       " unanswered calls, its limit "
                       "(--max-pending-calls-per-uid)"));
    case Quota::kSchemaBytes:
      break;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("uid ", uid, "'s schemas take ", held, " bytes; ", more,
                   " more would pass its limit of ", limit,
                   " bytes (--max-schema-bytes-per-uid)"));
}

void UidAccounts::Charge(SessionId session, Quota quota, size_t n) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  it->second.usage.of(quota) += n;
  uids_.at(it->second.uid).usage.of(quota) += n;
}

void UidAccounts::Refund(SessionId session, Quota quota, size_t n) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  // A table never gives back more than it charged; the clamp only keeps a
  // session bound after its first charges from going below zero.
  n = std::min(n, it->second.usage.of(quota));
  it->second.usage.of(quota) -= n;
  uids_.at(it->second.uid).usage.of(quota) -= n;
}

Usage UidAccounts::ForgetSession(SessionId session) {
  auto node = sessions_.extract(session);
  if (node.empty()) return Usage();
  const SessionShare& share = node.mapped();
  auto total = uids_.find(share.uid);
  for (size_t i = 0; i < kQuotaCount; ++i) {
    total->second.usage.held[i] -= share.usage.held[i];
  }
  if (--total->second.sessions == 0) uids_.erase(total);
  return share.usage;
}

Usage UidAccounts::UsageOf(uint32_t uid) const {
  auto it = uids_.find(uid);
  return it == uids_.end() ? Usage() : it->second.usage;
}

std::vector<std::pair<uint32_t, Usage>> UidAccounts::All() const {
  std::vector<std::pair<uint32_t, Usage>> all;
  all.reserve(uids_.size());
  for (const auto& [uid, total] : uids_) all.emplace_back(uid, total.usage);
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return all;
}

std::vector<std::pair<uint32_t, UidAccounts::Refusals>>
UidAccounts::AllRefused() const {
  std::vector<std::pair<uint32_t, Refusals>> out(refused_.begin(),
                                                 refused_.end());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace switchboard::core
