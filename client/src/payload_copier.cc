// SPDX-License-Identifier: MIT
#include "client/src/payload_copier.h"

#include <atomic>
#include <cstring>
#include <memory>

namespace switchboard::client {

Payload PayloadCopier::Copy(absl::string_view bytes) {
  if (bytes.empty()) return Payload();
  // use_count() is a relaxed load. When it reads 1, the last other owner's
  // release (an acq_rel decrement) is what it read, and the fence orders
  // that owner's reads of the block before the writes below.
  const bool reusable =
      block_ != nullptr && block_.use_count() == 1 && capacity_ >= bytes.size();
  if (reusable) {
    std::atomic_thread_fence(std::memory_order_acquire);
  } else {
    block_ = std::make_shared_for_overwrite<char[]>(bytes.size());
    capacity_ = bytes.size();
  }
  std::memcpy(block_.get(), bytes.data(), bytes.size());
  return Payload(std::shared_ptr<const void>(block_),
                 absl::string_view(block_.get(), bytes.size()));
}

}  // namespace switchboard::client
