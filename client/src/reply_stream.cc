// SPDX-License-Identifier: MIT
#include "client/src/reply_stream.h"

#include <utility>

namespace switchboard {

ReplyStream::Impl::Impl(uint32_t window, absl::Time deadline, Link link)
    : deadline_(deadline), credit_(window), link_(std::move(link)) {}

void ReplyStream::Impl::Push(Payload message) {
  absl::MutexLock lock(&mu_);
  if (end_.has_value()) return;  // cancelled: in-flight replies are dropped
  messages_.push_back(std::move(message));
}

void ReplyStream::Impl::Finish(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (end_.has_value()) return;
  CloseLocked(std::move(status));
}

void ReplyStream::Impl::Abort(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (end_.has_value()) return;
  messages_.clear();
  CloseLocked(std::move(status));
}

void ReplyStream::Impl::CloseLocked(absl::Status status) {
  end_ = std::move(status);
  link_ = Link();
}

bool ReplyStream::Impl::ended() const {
  absl::MutexLock lock(&mu_);
  return end_.has_value();
}

absl::StatusOr<std::optional<Payload>> ReplyStream::Impl::Next() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !messages_.empty() || end_.has_value();
  };
  if (!ready() && link_.delivers_here && link_.delivers_here()) {
    return absl::FailedPreconditionError(
        "ReplyStream::Next() would wait on the client's dispatch thread, which "
        "delivers the stream's messages; call it from another thread");
  }
  if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline_)) {
    // The broker enforces the deadline; it did not answer in time either.
    if (link_.send_cancel) link_.send_cancel();
    CloseLocked(absl::DeadlineExceededError(
        "the stream did not end in time, and the broker did not end it"));
  }
  if (!messages_.empty()) {
    Payload message = std::move(messages_.front());
    messages_.pop_front();
    if (const uint32_t grant = credit_.Take(); grant > 0 && link_.send_credit) {
      link_.send_credit(grant);
    }
    return std::optional<Payload>(std::move(message));
  }
  if (!end_->ok()) return *end_;
  return std::optional<Payload>();
}

void ReplyStream::Impl::Cancel() {
  absl::MutexLock lock(&mu_);
  if (end_.has_value()) return;  // over already: its outcome stands
  link_.send_cancel();
  messages_.clear();
  CloseLocked(absl::CancelledError("the stream was cancelled by the caller"));
}

ReplyStream::ReplyStream(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ReplyStream::~ReplyStream() { impl_->Cancel(); }

absl::StatusOr<std::optional<Payload>> ReplyStream::Next() {
  return impl_->Next();
}

void ReplyStream::Cancel() { impl_->Cancel(); }

}  // namespace switchboard
