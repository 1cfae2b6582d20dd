// SPDX-License-Identifier: MIT
#include "client/src/stream_writer.h"

#include <limits>
#include <utility>

namespace switchboard {

StreamWriter::Impl::Impl(uint32_t initial_credit, absl::Time deadline,
                         SendFn send)
    : deadline_(deadline), send_(std::move(send)), credit_(initial_credit) {}

absl::Status StreamWriter::Impl::Write(Payload message) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return credit_ > 0 || !end_.ok();
  };
  mu_.Await(absl::Condition(&ready));
  if (!end_.ok()) return end_;
  // Sent under the lock so that messages written from several threads keep
  // one order and the credit is used exactly once each; the send itself
  // never blocks (FrameWriter queues what the socket does not take).
  absl::Status sent = send_(std::move(message));
  if (sent.ok()) {
    --credit_;
  } else if (sent.code() == absl::StatusCode::kUnavailable) {
    end_ = sent;
  }
  return sent;
}

bool StreamWriter::Impl::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

uint32_t StreamWriter::Impl::credit() const {
  absl::MutexLock lock(&mu_);
  return credit_;
}

void StreamWriter::Impl::Grant(uint32_t grant) {
  absl::MutexLock lock(&mu_);
  const uint32_t room = std::numeric_limits<uint32_t>::max() - credit_;
  credit_ += grant < room ? grant : room;
}

void StreamWriter::Impl::Cancel(bool from_broker) {
  absl::MutexLock lock(&mu_);
  if (!end_.ok()) return;
  cancelled_ = true;
  const absl::Time now =
      from_broker ? absl::Now() + kDeadlineSlack : absl::Now();
  end_ = now >= deadline_
             ? absl::DeadlineExceededError("the stream's deadline passed")
             : absl::CancelledError(
                   "the caller cancelled the stream or went away");
}

void StreamWriter::Impl::Fail(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (end_.ok()) end_ = std::move(status);
}

StreamWriter::StreamWriter(std::shared_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
StreamWriter::~StreamWriter() = default;

absl::Status StreamWriter::Write(Payload message) {
  return impl_->Write(std::move(message));
}

absl::Status StreamWriter::Write(const google::protobuf::Message& message) {
  return impl_->Write(Payload(message.SerializeAsString()));
}

bool StreamWriter::cancelled() const { return impl_->cancelled(); }
uint32_t StreamWriter::credit() const { return impl_->credit(); }

}  // namespace switchboard
