// SPDX-License-Identifier: MIT
#include "io/fd_passing.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace switchboard::io {
namespace {

// Room for one SCM_RIGHTS message of kMaxFdsPerMessage descriptors,
// aligned as cmsghdr requires.
union ControlBuffer {
  char bytes[CMSG_SPACE(kMaxFdsPerMessage * sizeof(int))];
  cmsghdr align;
};

}  // namespace

absl::StatusOr<size_t> SendWithFds(int socket, absl::Span<const iovec> iov,
                                   absl::Span<const int> fds) {
  if (fds.size() > kMaxFdsPerMessage) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot pass ", fds.size(), " descriptors in one message (",
        kMaxFdsPerMessage, " at most)"));
  }
  if (iov.empty() && !fds.empty()) {
    return absl::InvalidArgumentError("descriptors need at least one byte");
  }
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(iov.data());
  message.msg_iovlen = iov.size();
  ControlBuffer control;
  if (!fds.empty()) {
    const size_t data_bytes = fds.size() * sizeof(int);
    message.msg_control = control.bytes;
    message.msg_controllen = CMSG_SPACE(data_bytes);
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(data_bytes);
    std::memcpy(CMSG_DATA(header), fds.data(), data_bytes);
  }
  while (true) {
    const ssize_t n = ::sendmsg(socket, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return absl::ErrnoToStatus(errno, "sendmsg");
  }
}

absl::StatusOr<Received> RecvWithFds(int socket, absl::Span<char> buffer,
                                     std::vector<Fd>& fds, bool block) {
  iovec iov{buffer.data(), buffer.size()};
  ControlBuffer control;
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.bytes;
  message.msg_controllen = sizeof control.bytes;
  ssize_t n;
  do {
    n = ::recvmsg(socket, &message,
                  MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Received{};
    return absl::ErrnoToStatus(errno, "recvmsg");
  }
  Received received;
  received.bytes = static_cast<size_t>(n);
  received.end_of_stream = n == 0 && !buffer.empty();
  received.fds_truncated = (message.msg_flags & MSG_CTRUNC) != 0;
  // Take every descriptor that did arrive, even when some were dropped, so
  // that none leaks.
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
      continue;
    }
    const size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(header);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, data + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  return received;
}

}  // namespace switchboard::io
