// SPDX-License-Identifier: MIT
#include "daemon/core/subscriptions.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wire/topic.h"

namespace switchboard::core {

std::string DropReasonText(uint8_t reasons) {
  std::vector<absl::string_view> parts;
  if (reasons & kDropQueueFull) {
    parts.push_back("the subscription's queue was full");
  }
  if (reasons & kDropConnectionQueueFull) {
    parts.push_back("the connection's output queue was over its byte limit");
  }
  if (reasons & kDropFdsInFlight) {
    parts.push_back("the broker held too many descriptors for the connection");
  }
  if (reasons & kDropNoFds) {
    parts.push_back(
        "the message carried file descriptors and the connection takes none");
  }
  if (reasons & kDropUidQuota) {
    parts.push_back(
        "the connections of the subscriber's uid held their quota of unread "
        "output, or the broker was near its memory ceiling");
  }
  return absl::StrJoin(parts, "; ");
}

absl::string_view PolicyName(v1::OverflowPolicy policy) {
  switch (policy) {
    case v1::OVERFLOW_POLICY_DROP_NEWEST:
      return "drop_newest";
    case v1::OVERFLOW_POLICY_DISCONNECT:
      return "disconnect";
    default:
      return "drop_oldest";
  }
}

SubscriptionTable::SubscriptionTable(const SubscriptionLimits& limits,
                                     UidAccounts* accounts)
    : accounts_(accounts), limits_(limits) {}

absl::StatusOr<const Subscription*> SubscriptionTable::Add(
    SessionId session, const v1::Subscribe& request) {
  const uint64_t id = request.subscription_id();
  if (id == 0) {
    return absl::InvalidArgumentError("subscription_id must be non-zero");
  }
  const SubscriptionKey key{session, id};
  if (subscriptions_.contains(key)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subscription_id ", id, " is already in use on this connection"));
  }
  if (absl::Status s = wire::ValidatePattern(request.pattern()); !s.ok()) {
    return s;
  }
  v1::OverflowPolicy policy = request.policy();
  if (policy == v1::OVERFLOW_POLICY_UNSPECIFIED) {
    policy = v1::OVERFLOW_POLICY_DROP_OLDEST;
  } else if (!v1::OverflowPolicy_IsValid(policy)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown overflow policy ", static_cast<int>(policy)));
  }
  if (CountFor(session) >= limits_.max_per_session) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this connection already holds ", limits_.max_per_session,
        " subscriptions, the broker's limit (--max-subscriptions)"));
  }
  Subscription subscription;
  subscription.key = key;
  subscription.pattern = request.pattern();
  subscription.max_messages =
      std::min(request.max_messages() == 0 ? limits_.default_messages
                                           : request.max_messages(),
               limits_.max_messages);
  subscription.max_bytes = std::min(
      request.max_bytes() == 0 ? limits_.default_bytes : request.max_bytes(),
      limits_.max_bytes);
  subscription.policy = policy;
  auto [it, inserted] = subscriptions_.emplace(key, std::move(subscription));
  if (by_session_[session].insert(id).second && accounts_ != nullptr) {
    accounts_->Charge(session, Quota::kSubscriptions, 1);
  }
  trie_.Add(it->second.pattern, key);
  last_valid_ = false;
  return &it->second;
}

absl::Status SubscriptionTable::Remove(SessionId session, uint64_t id) {
  auto it = subscriptions_.find(SubscriptionKey{session, id});
  if (it == subscriptions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("this connection has no subscription ", id));
  }
  trie_.Remove(it->second.pattern, it->first);
  subscriptions_.erase(it);
  last_valid_ = false;
  auto index = by_session_.find(session);
  index->second.erase(id);
  if (index->second.empty()) by_session_.erase(index);
  if (accounts_ != nullptr) {
    accounts_->Refund(session, Quota::kSubscriptions, 1);
  }
  return absl::OkStatus();
}

void SubscriptionTable::ForgetSession(SessionId session) {
  auto index = by_session_.find(session);
  if (index == by_session_.end()) return;
  for (uint64_t id : index->second) {
    auto it = subscriptions_.find(SubscriptionKey{session, id});
    trie_.Remove(it->second.pattern, it->first);
    subscriptions_.erase(it);
  }
  if (accounts_ != nullptr) {
    accounts_->Refund(session, Quota::kSubscriptions, index->second.size());
  }
  by_session_.erase(index);
  last_valid_ = false;
}

void SubscriptionTable::Match(absl::string_view topic,
                              std::vector<Subscription*>* matches) {
  if (subscriptions_.empty()) return;
  if (!last_valid_ || last_topic_ != topic) {
    last_matches_.clear();
    trie_.Match(topic, [&](const SubscriptionKey& key) {
      last_matches_.push_back(&subscriptions_.find(key)->second);
    });
    last_topic_.assign(topic.data(), topic.size());
    last_valid_ = true;
  }
  matches->insert(matches->end(), last_matches_.begin(), last_matches_.end());
}

std::vector<const Subscription*> SubscriptionTable::All() const {
  return First(subscriptions_.size());
}

std::vector<const Subscription*> SubscriptionTable::First(size_t count) const {
  std::vector<const Subscription*> all;
  all.reserve(subscriptions_.size());
  for (const auto& [key, subscription] : subscriptions_) {
    all.push_back(&subscription);
  }
  auto before = [](const Subscription* a, const Subscription* b) {
    return a->key.session != b->key.session ? a->key.session < b->key.session
                                            : a->key.id < b->key.id;
  };
  if (count < all.size()) {
    std::nth_element(all.begin(), all.begin() + static_cast<ptrdiff_t>(count),
                     all.end(), before);
    all.resize(count);
  }
  std::sort(all.begin(), all.end(), before);
  return all;
}

size_t SubscriptionTable::CountFor(SessionId session) const {
  auto it = by_session_.find(session);
  return it == by_session_.end() ? 0 : it->second.size();
}

uint64_t SubscriptionTable::DroppedFor(SessionId session) const {
  auto it = by_session_.find(session);
  if (it == by_session_.end()) return 0;
  uint64_t dropped = 0;
  for (uint64_t id : it->second) {
    auto subscription = subscriptions_.find(SubscriptionKey{session, id});
    if (subscription != subscriptions_.end()) {
      dropped += subscription->second.dropped;
    }
  }
  return dropped;
}

}  // namespace switchboard::core
