// SPDX-License-Identifier: MIT
//
// The listening sockets systemd passes the broker when a socket unit
// (packaging/systemd/switchboard.socket) starts it: LISTEN_FDS, LISTEN_PID
// and LISTEN_FDNAMES, read with libsystemd's sd_listen_fds_with_names(3).
// Each becomes an io::Listener the Server serves like one it bound itself,
// except that the socket file stays systemd's: the broker never removes it.
#ifndef SWITCHBOARD_DAEMON_SERVER_SYSTEMD_SOCKETS_H_
#define SWITCHBOARD_DAEMON_SERVER_SYSTEMD_SOCKETS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "io/listener.h"

namespace switchboard::server {

// Takes every socket systemd passed to this process, in the order passed
// (fd 3, 4, ...), and clears LISTEN_* from the environment so programs the
// broker starts do not see them. Returns an empty vector when systemd
// passed none (or passed them to another process: LISTEN_PID differs).
// Each socket must be a listening unix (with a path) or tcp (on a loopback
// address) stream socket. Errors: kInvalidArgument naming the fd and its
// name, e.g. "systemd passed fd 3 ('bus'): not a stream socket; the socket
// unit must use ListenStream="; kInvalidArgument "cannot read
// LISTEN_FDS/LISTEN_PID from systemd: ..." when they are malformed.
// On error every passed fd is closed.
absl::StatusOr<std::vector<io::Listener>> TakeSystemdSockets();

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_SYSTEMD_SOCKETS_H_
