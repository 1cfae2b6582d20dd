// SPDX-License-Identifier: MIT
//
// SystemdUnits: starts the systemd user units of activatable services by
// asking the user's systemd manager over the user bus (sd-bus:
// org.freedesktop.systemd1.Manager.StartUnit, mode "replace"), as
// dbus-broker does. The bus is opened at the first unit start and watched
// on the broker's loop; the call is asynchronous, so the broker never waits
// for systemd. A refused job (no such unit, a bad unit) is reported as a
// failure of the activation; a unit whose program never claims its name is
// caught by the activation timeout, as for a command.
//
// Every method runs on the loop thread.
#ifndef SWITCHBOARD_DAEMON_SERVER_SYSTEMD_UNITS_H_
#define SWITCHBOARD_DAEMON_SERVER_SYSTEMD_UNITS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "io/event_loop.h"

struct sd_bus;
struct sd_bus_message;

namespace switchboard::server {

class SystemdUnits {
 public:
  using FailureCallback = absl::AnyInvocable<void(
      absl::string_view name, uint64_t attempt, absl::string_view reason)>;

  // `loop` must outlive this object.
  SystemdUnits(io::EventLoop& loop, FailureCallback on_failure);
  ~SystemdUnits();
  SystemdUnits(const SystemdUnits&) = delete;
  SystemdUnits& operator=(const SystemdUnits&) = delete;

  // Asks systemd to start `unit` for the activation `attempt` of `name`.
  // Errors: kUnavailable "cannot start unit UNIT: no systemd user manager
  // (...)" when the user bus cannot be reached or the request not sent. A
  // job systemd refuses later is reported through the failure callback.
  absl::Status Start(absl::string_view name, absl::string_view unit,
                     uint64_t attempt);

  // A StartUnit call in flight; for the sd-bus reply callback, which hands
  // its reply to OnReply().
  struct Request;
  void OnReply(Request* key, sd_bus_message* reply);

 private:
  absl::Status Connect();
  void Process();
  void Disconnect();

  io::EventLoop& loop_;
  FailureCallback on_failure_;
  sd_bus* bus_ = nullptr;
  io::EventLoop::Watch watch_;
  // StartUnit calls without a reply yet; a reply removes its own.
  absl::flat_hash_map<Request*, std::unique_ptr<Request>> requests_;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_SYSTEMD_UNITS_H_
