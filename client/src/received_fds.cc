// SPDX-License-Identifier: MIT
#include "client/src/received_fds.h"

#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "base/log.h"

namespace switchboard::client {

ssize_t ReceivedFds::Receive(int socket, absl::Span<char> into, int flags) {
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFdsPerRead * sizeof(int))];
  iovec iov{into.data(), into.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(socket, &msg, flags | MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  if ((msg.msg_flags & MSG_CTRUNC) != 0) truncated_ = true;
  if (msg.msg_controllen == 0) return n;  // the usual case: no descriptors
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr;
       cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
      continue;
    }
    const size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      fds_.emplace_back(fd);
    }
  }
  return n;
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
