// SPDX-License-Identifier: MIT
//
// Launcher: starts the programs of activatable services for the router
// (core::ActivationStart) and tells it when one fails before it claimed its
// name. A command is run with posix_spawn, never through a shell: in a new
// session, stdin /dev/null, stdout and stderr the broker's own (its log),
// every signal at its default and none blocked, and SWITCHBOARD_ADDRESS set
// to the broker's address. Each child is watched through a pidfd on the
// loop and reaped when it exits, so none is left a zombie; its exit is
// reported, and the router ignores the report if the name was claimed in
// the meantime. A systemd unit is started through SystemdUnits.
//
// The broker never stops the programs it started: they are services in
// their own right, as with dbus-broker. At shutdown they keep running (and
// find the broker gone).
//
// Every method runs on the loop thread.
#ifndef SWITCHBOARD_DAEMON_SERVER_LAUNCHER_H_
#define SWITCHBOARD_DAEMON_SERVER_LAUNCHER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "base/fd.h"
#include "daemon/core/activations.h"
#include "daemon/server/systemd_units.h"
#include "io/event_loop.h"

namespace switchboard::server {

class Launcher {
 public:
  // Called when attempt `attempt` of `name` failed after Start() returned:
  // its program exited (`reason`: "/usr/bin/x exited with status 1 before
  // claiming the name"), or its unit's job failed.
  using FailureCallback = absl::AnyInvocable<void(
      absl::string_view name, uint64_t attempt, absl::string_view reason)>;

  // `loop` must outlive the launcher.
  Launcher(io::EventLoop& loop, FailureCallback on_failure);
  ~Launcher();
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // The address started programs get as SWITCHBOARD_ADDRESS.
  void set_broker_address(std::string address) {
    broker_address_ = std::move(address);
  }

  // Starts `service`'s program or unit. Errors (the activation fails at
  // once): kNotFound / kPermissionDenied / ... when the command cannot be
  // run ("cannot run /usr/bin/x: No such file or directory"), kUnavailable
  // when no systemd user manager can be reached.
  absl::Status Start(const core::ActivatableService& service, uint64_t attempt);

  // Programs started and not yet exited.
  size_t running() const { return children_.size(); }

 private:
  struct Child {
    std::string name;
    uint64_t attempt = 0;
    std::string program;
    pid_t pid = 0;
    Fd pidfd;
    io::EventLoop::Watch watch;  // after pidfd: leaves epoll first
  };

  absl::Status Spawn(const core::ActivatableService& service, uint64_t attempt);
  void OnExited(pid_t pid);

  io::EventLoop& loop_;
  FailureCallback on_failure_;
  std::string broker_address_;
  absl::flat_hash_map<pid_t, std::unique_ptr<Child>> children_;
  SystemdUnits units_;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_LAUNCHER_H_
