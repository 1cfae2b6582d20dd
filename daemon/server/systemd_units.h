// SPDX-License-Identifier: MIT
//
// SystemdUnits: starts the systemd user units of activatable services by
// asking the user's systemd manager over the user bus (sd-bus:
// org.freedesktop.systemd1.Manager.StartUnit, mode "replace"), as
// dbus-broker does. The bus is opened at the first unit start and watched
// on the broker's loop; the call is asynchronous, so the broker never waits
// for systemd. A refused job (no such unit, a bad unit), and a job that
// ends with a result other than "done" (systemd's JobRemoved signal, which
// the broker subscribes to), are reported as a failure of the activation;
// a unit that starts but whose program never claims its name is caught by
// the activation timeout, as for a command.
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
  // systemd's JobRemoved signal (job id, job path, unit, result).
  void OnJobRemoved(sd_bus_message* signal);

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
  // Start jobs systemd queued and has not finished, by job object path.
  absl::flat_hash_map<std::string, std::unique_ptr<Request>> jobs_;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_SYSTEMD_UNITS_H_
