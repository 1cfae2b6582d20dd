// SPDX-License-Identifier: MIT
#include "client/src/async_call.h"

#include <utility>

namespace switchboard::client {

CallCallback AsyncCall::TakeForOutcome() {
  absl::MutexLock lock(&mu_);
  return std::exchange(done_, nullptr);
}

std::optional<AsyncCall::Cancelled> AsyncCall::TakeForCancel() {
  absl::MutexLock lock(&mu_);
  if (done_ == nullptr) return std::nullopt;
  cancelled_ = true;
  return Cancelled{std::exchange(done_, nullptr), request_id_};
}

bool AsyncCall::Sent(uint64_t request_id) {
  absl::MutexLock lock(&mu_);
  request_id_ = request_id;
  return !cancelled_;
}

bool AsyncCall::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void AsyncCallCallback::operator()(absl::StatusOr<Payload> result) const {
  if (CallCallback done = call->TakeForOutcome()) done(std::move(result));
}

std::shared_ptr<AsyncCall> AsyncCallOf(const CallCallback& callback) {
  const AsyncCallCallback* target = callback.target<AsyncCallCallback>();
  return target != nullptr ? target->call : nullptr;
}

}  // namespace switchboard::client
