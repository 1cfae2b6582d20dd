// SPDX-License-Identifier: MIT
#include "client/src/received_fds.h"

#include <utility>

#include "base/log.h"

namespace switchboard::client {

absl::StatusOr<io::Received> ReceivedFds::Receive(int socket,
                                                  absl::Span<char> into,
                                                  bool block) {
  // Appending keeps first-in, first-out order: fds_[head_..] are queued.
  return io::RecvWithFds(socket, into, fds_, block);
}

std::vector<Fd> ReceivedFds::Take(size_t count) {
  SB_CHECK(count <= size())
      << "taking " << count << " of " << size() << " received descriptors";
  std::vector<Fd> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) out.push_back(std::move(fds_[head_++]));
  if (head_ == fds_.size()) {
    fds_.clear();  // keeps the capacity for the next ones
    head_ = 0;
  }
  return out;
}

}  // namespace switchboard::client
