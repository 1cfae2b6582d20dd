// SPDX-License-Identifier: MIT
//
// The handles a Client gives out, Subscription and PendingCall, and the
// HandleLink through which they reach it (handle_link.h).
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/src/client_impl.h"
#include "client/src/handle_link.h"
#include "switchboard/pending_call.h"
#include "switchboard/subscription.h"

namespace switchboard {
namespace client {

bool HandleLink::Use(absl::FunctionRef<void(Client::Impl&)> use) {
  Client::Impl* impl;
  {
    absl::MutexLock lock(&mu_);
    if (impl_ == nullptr) return false;
    impl = impl_;
    ++users_;
  }
  use(*impl);
  absl::MutexLock lock(&mu_);
  --users_;
  return true;
}

void HandleLink::Detach() {
  absl::MutexLock lock(&mu_);
  impl_ = nullptr;
  auto idle = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return users_ == 0; };
  mu_.Await(absl::Condition(&idle));
}

absl::Status HandleLink::Unsubscribe(uint64_t subscription) {
  absl::Status status = absl::CancelledError(
      absl::StrCat("the client was closed, and subscription ", subscription,
                   " ended with it"));
  Use([&](Client::Impl& impl) { status = impl.Unsubscribe(subscription); });
  return status;
}

absl::StatusOr<SubscriptionStats> HandleLink::GetSubscriptionStats(
    uint64_t subscription) {
  absl::StatusOr<SubscriptionStats> stats = absl::NotFoundError(
      absl::StrCat("the client was closed, and subscription ", subscription,
                   " ended with it"));
  Use([&](Client::Impl& impl) {
    stats = impl.GetSubscriptionStats(subscription);
  });
  return stats;
}

bool HandleLink::CancelCall(AsyncCall& call) {
  bool cancelled = false;
  Use([&](Client::Impl& impl) { cancelled = impl.CancelCall(call); });
  return cancelled;
}

}  // namespace client

// ---- Subscription -----------------------------------------------------------

Subscription::~Subscription() {
  // The subscription ends with the connection in any case.
  End().IgnoreError();
}

Subscription::Subscription(Subscription&& other) noexcept
    : link_(std::move(other.link_)), id_(std::exchange(other.id_, 0)) {}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    End().IgnoreError();  // as the destructor
    link_ = std::move(other.link_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

absl::Status Subscription::Unsubscribe() {
  if (id_ == 0) {
    return absl::FailedPreconditionError(
        "this Subscription handle holds no subscription");
  }
  return End();
}

uint64_t Subscription::Release() {
  link_.reset();
  return std::exchange(id_, 0);
}

absl::StatusOr<SubscriptionStats> Subscription::stats() const {
  if (id_ == 0) {
    return absl::NotFoundError(
        "this Subscription handle holds no subscription");
  }
  return link_->GetSubscriptionStats(id_);
}

absl::Status Subscription::End() {
  // Emptied first: whatever ending it meets, the handle holds nothing after.
  std::shared_ptr<client::HandleLink> link = std::move(link_);
  const uint64_t id = std::exchange(id_, 0);
  if (id == 0) return absl::OkStatus();
  return link->Unsubscribe(id);
}

// ---- PendingCall ------------------------------------------------------------

PendingCall::~PendingCall() = default;

PendingCall::PendingCall(PendingCall&& other) noexcept = default;
PendingCall& PendingCall::operator=(PendingCall&& other) noexcept = default;

bool PendingCall::Cancel() {
  if (call_ == nullptr) return false;
  return link_->CancelCall(*call_);
}

}  // namespace switchboard
