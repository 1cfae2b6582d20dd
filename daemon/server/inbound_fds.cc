// SPDX-License-Identifier: MIT
#include "daemon/server/inbound_fds.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "io/fd_passing.h"

namespace switchboard::server {

InboundFds::InboundFds(size_t max_fds_per_frame)
    : max_queued_(io::kMaxFdsPerMessage + max_fds_per_frame) {}

absl::Status InboundFds::Add(std::vector<Fd> fds) {
  if (fds_.size() + fds.size() > max_queued_) {
    // `fds` closes on return.
    return absl::InvalidArgumentError(
        absl::StrCat("more file descriptors arrived than frames claim (",
                     fds_.size() + fds.size(), " waiting)"));
  }
  for (Fd& fd : fds) fds_.push_back(std::move(fd));
  return absl::OkStatus();
}

absl::Status InboundFds::AttachTo(wire::Frame& frame) {
  const size_t count = frame.prefix().fd_count;
  if (count == 0) return absl::OkStatus();
  // Buffers travel on CALL and REPLY (PROTOCOL.md 2.5) and on PUBLISH,
  // whose MESSAGEs pass them on (5.5).
  if (frame.kind() != wire::Kind::kCall && frame.kind() != wire::Kind::kReply &&
      frame.kind() != wire::Kind::kPublish) {
    return absl::InvalidArgumentError(absl::StrCat(
        wire::KindName(frame.kind()), " frame has fd_count ", count,
        "; only CALL, REPLY and PUBLISH may carry descriptors"));
  }
  if (fds_.size() < count) {
    return absl::InvalidArgumentError(absl::StrCat(
        wire::KindName(frame.kind()), " frame has fd_count ", count, " but ",
        fds_.size(), " file descriptors arrived with it"));
  }
  std::vector<Fd> taken;
  taken.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    taken.push_back(std::move(fds_.front()));
    fds_.pop_front();
  }
  frame.set_fds(std::move(taken));
  return absl::OkStatus();
}

absl::Status InboundFds::CheckAllClaimed() const {
  if (fds_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(fds_.size(),
                   " file descriptors arrived that no frame claims "
                   "(fd_count too small)"));
}

}  // namespace switchboard::server
