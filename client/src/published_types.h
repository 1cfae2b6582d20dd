// SPDX-License-Identifier: MIT
//
// PublishedTypes: the message types this connection has told the broker
// about (switchboard.Broker/RegisterTypes, docs/PROTOCOL.md 5.6), so that
// tools can decode what it publishes. A typed Publish() asks First() for its
// type; only the first publish of each type sends the files. Thread-safe and
// cheap when the type repeats: one atomic load.
#ifndef SWITCHBOARD_CLIENT_SRC_PUBLISHED_TYPES_H_
#define SWITCHBOARD_CLIENT_SRC_PUBLISHED_TYPES_H_

#include <atomic>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "client/src/plain_mutex.h"
#include "google/protobuf/descriptor.h"

namespace switchboard::client {

class PublishedTypes {
 public:
  // True exactly once per `type`: the caller then registers it.
  bool First(const google::protobuf::Descriptor* type) {
    if (last_.load(std::memory_order_acquire) == type) return false;
    PlainMutexLock lock(&mu_);
    last_.store(type, std::memory_order_release);
    return seen_.insert(type).second;
  }
  // Every type First() has seen, to register again after a reconnect.
  std::vector<const google::protobuf::Descriptor*> All() {
    PlainMutexLock lock(&mu_);
    return {seen_.begin(), seen_.end()};
  }

 private:
  std::atomic<const google::protobuf::Descriptor*> last_{nullptr};
  PlainMutex mu_;
  absl::flat_hash_set<const google::protobuf::Descriptor*> seen_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_PUBLISHED_TYPES_H_
