// SPDX-License-Identifier: MIT
#include "io/connect.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace switchboard::io {
namespace {

absl::Status ConnectError(int err, const Address& address) {
  if (err == ENOENT || err == ECONNREFUSED) {
    return absl::UnavailableError(absl::StrCat(
        "no broker at ", address.ToString(), ": ", std::strerror(err),
        " (is switchboardd running? start it, or set SWITCHBOARD_ADDRESS)"));
  }
  return absl::ErrnoToStatus(err, absl::StrCat("connect ", address.ToString()));
}

absl::StatusOr<Fd> ConnectUnix(const Address& address) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, address.path.data(), address.path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    return ConnectError(errno, address);
  }
  return fd;
}

absl::StatusOr<Fd> ConnectTcp(const Address& address) {
  sockaddr_storage storage{};
  socklen_t length;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address.host.c_str(), &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    length = sizeof *v4;
  } else if (inet_pton(AF_INET6, address.host.c_str(), &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    length = sizeof *v6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("not a numeric host: ", address.host));
  }
  Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket(tcp)");
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    return ConnectError(errno, address);
  }
  return fd;
}

}  // namespace

absl::StatusOr<Fd> ConnectStream(const Address& address) {
  return address.transport == Transport::kUnix ? ConnectUnix(address)
                                               : ConnectTcp(address);
}

absl::Status SetNonBlocking(int fd, bool non_blocking) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return absl::ErrnoToStatus(errno, "fcntl(F_GETFL)");
  flags = non_blocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (::fcntl(fd, F_SETFL, flags) < 0) {
    return absl::ErrnoToStatus(errno, "fcntl(F_SETFL)");
  }
  return absl::OkStatus();
}

}  // namespace switchboard::io
