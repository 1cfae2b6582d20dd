// SPDX-License-Identifier: MIT
//
// IdentityCache: identities the broker gave out (switchboard.Broker/
// GetIdentity), by connection id. A connection's identity never changes
// and its id is never reused, so an entry stays true for good; the cache
// only bounds its size (it starts afresh when full: a handler asking about
// its callers mostly asks about the same few). Thread-safe.
#ifndef SWITCHBOARD_CLIENT_SRC_IDENTITY_CACHE_H_
#define SWITCHBOARD_CLIENT_SRC_IDENTITY_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "switchboard/v1/identity.pb.h"

namespace switchboard::client {

class IdentityCache {
 public:
  static constexpr size_t kMaxEntries = 1024;

  std::optional<v1::Identity> Find(uint64_t connection_id) const;
  void Add(uint64_t connection_id, const v1::Identity& identity);
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, v1::Identity> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_IDENTITY_CACHE_H_
