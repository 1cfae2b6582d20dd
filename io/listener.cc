// SPDX-License-Identifier: MIT
#include "io/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "io/private_file.h"

namespace switchboard::io {
namespace {

absl::Status AddressError(int err, absl::string_view what,
                          const Address& address) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", address.ToString()));
}

// A socket file already at the path: a live broker (refuse), or a stale file
// from one that died without cleaning up (remove it). Anything that is not a
// socket is left alone.
absl::Status ClearStaleSocket(const Address& address) {
  struct stat st;
  if (::lstat(address.path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return AddressError(errno, "stat", address);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot listen on ", address.ToString(),
        ": the path exists and is not a socket; remove it or choose another "
        "address"));
  }
  // A non-blocking probe: a live broker whose backlog is full answers
  // EAGAIN instead of making us wait.
  Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!probe) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, address.path.data(), address.path.size());
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) ==
          0 ||
      errno == EAGAIN || errno == EINPROGRESS) {
    return absl::AlreadyExistsError(absl::StrCat(
        "another broker is already listening on ", address.ToString()));
  }
  if (errno != ECONNREFUSED && errno != ENOENT) {
    return AddressError(errno, "connect to existing socket", address);
  }
  if (::unlink(address.path.c_str()) != 0 && errno != ENOENT) {
    return AddressError(errno, "remove stale socket", address);
  }
  return absl::OkStatus();
}

absl::StatusOr<Fd> BindUnix(const Address& address, dev_t* dev, ino_t* ino) {
  if (absl::Status s = CreatePrivateDirectory(DirectoryOf(address.path));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ClearStaleSocket(address); !s.ok()) return s;
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, address.path.data(), address.path.size());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    return AddressError(errno, "bind", address);
  }
  // Nobody can connect before listen(), so tightening the mode here leaves
  // no window in which the umask's mode is in effect for a connection.
  struct stat st;
  if (::chmod(address.path.c_str(), 0600) != 0 ||
      ::stat(address.path.c_str(), &st) != 0) {
    const int err = errno;
    ::unlink(address.path.c_str());
    return AddressError(err, "chmod", address);
  }
  *dev = st.st_dev;
  *ino = st.st_ino;
  return fd;
}

absl::StatusOr<Fd> BindTcp(Address* address) {
  sockaddr_storage storage{};
  socklen_t length;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address->host.c_str(), &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(address->port);
    length = sizeof *v4;
  } else if (inet_pton(AF_INET6, address->host.c_str(), &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address->port);
    length = sizeof *v6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("not a numeric host: ", address->host));
  }
  Fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket(tcp)");
  const int one = 1;
  // A restarted broker can take its port back while old connections linger
  // in TIME_WAIT.
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    return AddressError(errno, "bind", *address);
  }
  if (address->port == 0) {
    socklen_t bound_length = sizeof storage;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage),
                      &bound_length) != 0) {
      return AddressError(errno, "getsockname", *address);
    }
    address->port = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);
  }
  return fd;
}

int SocketOption(int fd, int option, absl::Status* status) {
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0) {
    *status = errno == ENOTSOCK ? absl::InvalidArgumentError("not a socket")
                                : absl::ErrnoToStatus(errno, "getsockopt");
  }
  return value;
}

// The address `fd` is bound to, checked by the rules Address::Parse applies
// to an address an operator types: a socket file, or a loopback TCP address.
absl::StatusOr<Address> BoundAddress(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return absl::ErrnoToStatus(errno, "getsockname");
  }
  std::string text;
  char host[INET6_ADDRSTRLEN] = "";
  if (storage.ss_family == AF_UNIX) {
    const auto* sun = reinterpret_cast<const sockaddr_un*>(&storage);
    const size_t offset = offsetof(sockaddr_un, sun_path);
    if (length <= offset || sun->sun_path[0] == '\0') {
      return absl::InvalidArgumentError(
          "the unix socket has no path (unnamed or abstract); the broker "
          "listens only on socket files");
    }
    text = absl::StrCat(
        "unix:", absl::string_view(sun->sun_path,
                                   ::strnlen(sun->sun_path, length - offset)));
  } else if (storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    text = absl::StrCat("tcp:", host, ":", ntohs(v4->sin_port));
  } else if (storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    text = absl::StrCat("tcp:[", host, "]:", ntohs(v6->sin6_port));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "socket family ", storage.ss_family, " is neither unix nor tcp"));
  }
  absl::StatusOr<Address> address = Address::Parse(text);
  if (!address.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot serve on ", text, ": ", address.status().message()));
  }
  return address;
}

}  // namespace

absl::StatusOr<Listener> Listener::Adopt(Fd fd) {
  absl::Status status;
  const int type = SocketOption(fd.get(), SO_TYPE, &status);
  if (!status.ok()) return status;
  if (type != SOCK_STREAM) {
    return absl::InvalidArgumentError("not a stream socket");
  }
  // The address before the listening state, so a socket on a non-loopback
  // address is refused as such whatever else is wrong with it.
  absl::StatusOr<Address> address = BoundAddress(fd.get());
  if (!address.ok()) return address.status();
  const int listening = SocketOption(fd.get(), SO_ACCEPTCONN, &status);
  if (!status.ok()) return status;
  if (listening == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(address->ToString(), " is not listening"));
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0) {
    return AddressError(errno, "fcntl on", *address);
  }
  return Listener(*std::move(address), std::move(fd));
}

absl::StatusOr<Listener> Listener::Listen(const Address& requested) {
  Address address = requested;
  dev_t dev = 0;
  ino_t ino = 0;
  absl::StatusOr<Fd> fd = address.transport == Transport::kUnix
                              ? BindUnix(address, &dev, &ino)
                              : BindTcp(&address);
  if (!fd.ok()) return fd.status();
  Listener listener(std::move(address), *std::move(fd));
  if (listener.address_.transport == Transport::kUnix) {
    listener.owns_socket_file_ = true;
    listener.socket_dev_ = dev;
    listener.socket_ino_ = ino;
  }
  if (::listen(listener.fd_.get(), SOMAXCONN) != 0) {
    return AddressError(errno, "listen", listener.address_);
  }
  return listener;
}

Listener::Listener(Listener&& other) noexcept
    : address_(std::move(other.address_)),
      fd_(std::move(other.fd_)),
      owns_socket_file_(std::exchange(other.owns_socket_file_, false)),
      socket_dev_(other.socket_dev_),
      socket_ino_(other.socket_ino_) {}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    RemoveSocketFile();
    address_ = std::move(other.address_);
    fd_ = std::move(other.fd_);
    owns_socket_file_ = std::exchange(other.owns_socket_file_, false);
    socket_dev_ = other.socket_dev_;
    socket_ino_ = other.socket_ino_;
  }
  return *this;
}

Listener::~Listener() { RemoveSocketFile(); }

void Listener::RemoveSocketFile() {
  if (!owns_socket_file_) return;
  owns_socket_file_ = false;
  struct stat st;
  if (::lstat(address_.path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
      st.st_ino == socket_ino_) {
    ::unlink(address_.path.c_str());
  }
}

absl::StatusOr<std::optional<Fd>> Listener::Accept() {
  while (true) {
    Fd fd(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd) {
      if (address_.transport == Transport::kTcp) {
        const int one = 1;
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      return std::optional<Fd>(std::move(fd));
    }
    switch (errno) {
      case EINTR:
        continue;
      case EAGAIN:
      case ECONNABORTED:
      case EPROTO:
        return std::nullopt;
      default:
        return AddressError(errno, "accept on", address_);
    }
  }
}

absl::StatusOr<std::string> GetPeerHost(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return absl::ErrnoToStatus(errno, "getpeername");
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* ip = nullptr;
  if (address.ss_family == AF_INET) {
    ip = &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr;
  } else if (address.ss_family == AF_INET6) {
    ip = &reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
  } else {
    return absl::InvalidArgumentError("not an IP socket");
  }
  if (::inet_ntop(address.ss_family, ip, text, sizeof text) == nullptr) {
    return absl::ErrnoToStatus(errno, "inet_ntop");
  }
  return std::string(text);
}

}  // namespace switchboard::io
