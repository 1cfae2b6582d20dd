// SPDX-License-Identifier: MIT
#include "daemon/server/systemd_sockets.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "base/log.h"

namespace switchboard::server {
namespace {

// sd_listen_fds_with_names() hands back a strv the caller frees.
void FreeNames(char** names) {
  if (names == nullptr) return;
  for (char** name = names; *name != nullptr; ++name) ::free(*name);
  ::free(static_cast<void*>(names));
}

// What the operator should fix, for a socket that is none of the kinds the
// broker serves: sd_is_socket_*() says which it is closest to.
const char* Hint(int fd) {
  if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, -1) <= 0) {
    return "; the socket unit must use ListenStream=";
  }
  if (sd_is_socket_unix(fd, SOCK_STREAM, -1, nullptr, 0) <= 0 &&
      sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, -1, 0) <= 0) {
    return "; ListenStream= must be a path or a loopback address and port";
  }
  return "";
}

}  // namespace

absl::StatusOr<std::vector<io::Listener>> TakeSystemdSockets() {
  char** names = nullptr;
  // unset_environment=1: an activated program must not think the broker's
  // sockets are its own.
  const int count = sd_listen_fds_with_names(1, &names);
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read LISTEN_FDS/LISTEN_PID from systemd: ",
                     std::strerror(-count)));
  }
  // Every fd is owned from here on, so an error closes them all.
  std::vector<Fd> fds;
  for (int i = 0; i < count; ++i) fds.emplace_back(SD_LISTEN_FDS_START + i);
  std::vector<io::Listener> listeners;
  absl::Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    const int fd = fds[i].get();
    const std::string name = names != nullptr && names[i] != nullptr
                                 ? std::string(names[i])
                                 : std::string("unknown");
    const std::string hint = Hint(fd);
    absl::StatusOr<io::Listener> listener =
        io::Listener::Adopt(std::move(fds[i]));
    if (!listener.ok()) {
      status = absl::InvalidArgumentError(
          absl::StrCat("systemd passed fd ", fd, " ('", name,
                       "'): ", listener.status().message(), hint));
      break;
    }
    SB_LOG(INFO) << "systemd passed " << listener->address().ToString()
                 << " as fd " << fd << " ('" << name << "')";
    listeners.push_back(*std::move(listener));
  }
  FreeNames(names);
  if (!status.ok()) return status;
  return listeners;
}

}  // namespace switchboard::server
