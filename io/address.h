// SPDX-License-Identifier: MIT
//
// Bus addresses: "unix:/path/to/socket" or "tcp:HOST:PORT" (HOST a loopback
// address: 127.0.0.0/8, ::1 written [::1], or localhost). Also where the
// default bus lives: $SWITCHBOARD_ADDRESS, else
// unix:$XDG_RUNTIME_DIR/switchboard/bus, else unix:/tmp/switchboard-$UID/bus.
#ifndef SWITCHBOARD_IO_ADDRESS_H_
#define SWITCHBOARD_IO_ADDRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::io {

enum class Transport { kUnix, kTcp };

// "unix" or "tcp".
const char* TransportName(Transport transport);

struct Address {
  Transport transport = Transport::kUnix;
  std::string path;   // kUnix: filesystem path (absolute or relative)
  std::string host;   // kTcp: numeric host, without brackets
  uint16_t port = 0;  // kTcp: 0 asks the kernel for a free port (listen only)

  // Errors: kInvalidArgument naming what is wrong, with an example of the
  // right form. A TCP host that is not loopback is refused here too.
  static absl::StatusOr<Address> Parse(absl::string_view text);

  // The canonical text form, which Parse() accepts.
  std::string ToString() const;
};

// The folder for the default socket and the TCP token file:
// $XDG_RUNTIME_DIR/switchboard, else /tmp/switchboard-$UID.
std::string RuntimeDirectory();

// $SWITCHBOARD_ADDRESS if set and non-empty, else unix:RuntimeDirectory()/bus.
std::string DefaultAddress();

// Where the TCP token lives for a broker listening on `unix_socket_path`: a
// file named "token" beside the socket. With no Unix socket (empty path):
// RuntimeDirectory()/token.
std::string TokenPathBeside(absl::string_view unix_socket_path);

}  // namespace switchboard::io

#endif  // SWITCHBOARD_IO_ADDRESS_H_
