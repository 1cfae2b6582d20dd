// SPDX-License-Identifier: MIT
//
// Listener: the broker's listening socket on a unix: or tcp: address, and
// accepting connections from it. On unix: it creates the socket's folder
// (mode 0700) and the socket (mode 0600), takes over a stale socket file
// left by a broker that died, refuses to start beside a live one, and
// removes the socket file it created when destroyed. On tcp: it binds only
// the loopback address Address::Parse() accepted; port 0 gets a free port,
// and address() reports the real one. Adopt() takes a socket another
// process made and left listening (systemd socket activation), under the
// same address rules, and never removes its file.
#ifndef SWITCHBOARD_IO_LISTENER_H_
#define SWITCHBOARD_IO_LISTENER_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/fd.h"
#include "io/address.h"

namespace switchboard::io {

class Listener {
 public:
  // Binds and listens on `address` with a non-blocking, close-on-exec
  // socket. Errors: kAlreadyExists "another broker is already listening on
  // unix:PATH" when a broker answers there; kFailedPrecondition when PATH
  // exists and is not a socket, or its folder belongs to another user;
  // socket/bind/listen failures as ErrnoToStatus naming the address (e.g.
  // "bind tcp:127.0.0.1:80: Permission denied").
  static absl::StatusOr<Listener> Listen(const Address& address);

  // Takes over `fd`, a socket already bound and listening (passed by
  // systemd), and makes it non-blocking and close-on-exec. The address is
  // read back from the socket. Its file, on unix:, belongs to whoever
  // created it and is left in place. Errors: kInvalidArgument when `fd` is
  // not a socket, not a listening stream socket, is a unix socket without a
  // path (unnamed or abstract), is neither unix nor tcp, or is a tcp socket not
  // bound to a loopback address (the message names the address, e.g.
  // "tcp:0.0.0.0:4000"); fcntl/getsockopt/getsockname failures as
  // ErrnoToStatus.
  static absl::StatusOr<Listener> Adopt(Fd fd);

  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  // Closes the socket; on unix: also removes the socket file if it is still
  // the one this listener created.
  ~Listener();

  // The address bound, with the kernel's port for a tcp: port 0.
  const Address& address() const { return address_; }
  int fd() const { return fd_.get(); }

  // Accepts one waiting connection as a non-blocking, close-on-exec socket
  // (TCP: with TCP_NODELAY). Returns std::nullopt when none is waiting, or
  // when one was aborted before it could be accepted. Errors: accept4
  // failures such as EMFILE (too many open files) as ErrnoToStatus; the
  // connection stays queued, so back off before trying again.
  absl::StatusOr<std::optional<Fd>> Accept();

 private:
  Listener(Address address, Fd fd)
      : address_(std::move(address)), fd_(std::move(fd)) {}
  void RemoveSocketFile();

  Address address_;
  Fd fd_;
  // unix: the socket file this listener created, identified by inode so a
  // file another broker put there later is never removed.
  bool owns_socket_file_ = false;
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
};

// The identity of the peer of an accepted Unix socket: io/peer_identity.h.

// The IP address at the other end of a TCP socket, without the port
// ("127.0.0.1", "::1"). Errors: getpeername failures as ErrnoToStatus;
// kInvalidArgument for a socket of another family.
absl::StatusOr<std::string> GetPeerHost(int fd);

}  // namespace switchboard::io

#endif  // SWITCHBOARD_IO_LISTENER_H_
