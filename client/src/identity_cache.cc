// SPDX-License-Identifier: MIT
#include "client/src/identity_cache.h"

namespace switchboard::client {

std::optional<v1::Identity> IdentityCache::Find(uint64_t connection_id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(connection_id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void IdentityCache::Add(uint64_t connection_id, const v1::Identity& identity) {
  absl::MutexLock lock(&mu_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[connection_id] = identity;
}

size_t IdentityCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace switchboard::client
