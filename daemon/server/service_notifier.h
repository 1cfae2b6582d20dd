// SPDX-License-Identifier: MIT
//
// ServiceNotifier: tells systemd how the broker is doing, through
// sd_notify(3) on $NOTIFY_SOCKET (a Type=notify service): READY=1 once it
// serves, STATUS= lines for `systemctl --user status`, RELOADING=1 while it
// rereads its configuration, STOPPING=1 when it shuts down, and WATCHDOG=1
// pings when the unit sets WatchdogSec=. Without $NOTIFY_SOCKET (the broker
// was not started by systemd) every message is dropped silently.
//
// Every method runs on the loop thread.
#ifndef SWITCHBOARD_DAEMON_SERVER_SERVICE_NOTIFIER_H_
#define SWITCHBOARD_DAEMON_SERVER_SERVICE_NOTIFIER_H_

#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "io/event_loop.h"

namespace switchboard::server {

class ServiceNotifier {
 public:
  // `loop` must outlive the notifier. When systemd asks for watchdog pings
  // ($WATCHDOG_USEC, and $WATCHDOG_PID naming this process if set), they
  // are sent from a loop timer every half interval, so a loop that stops
  // turning stops them and systemd restarts the broker. WATCHDOG_* are then
  // cleared from the environment; NOTIFY_SOCKET stays, sd_notify() reads it.
  // Errors: kInvalidArgument for a malformed $WATCHDOG_USEC or
  // $WATCHDOG_PID.
  static absl::StatusOr<std::unique_ptr<ServiceNotifier>> Create(
      io::EventLoop& loop);
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // READY=1 with STATUS=`status`: the broker serves. After Reloading(), it
  // also tells systemd the reload is done.
  void Ready(absl::string_view status);
  // RELOADING=1 with STATUS=`status` (for SIGHUP); call Ready() when done.
  void Reloading(absl::string_view status);
  // STOPPING=1 with STATUS=`status`; nothing but watchdog pings is sent
  // after it.
  void Stopping(absl::string_view status);
  // STATUS=`status`, unless it is the line sent last.
  void SetStatus(absl::string_view status);
  // Calls `status` every `interval` and sends its line when it changed: for
  // lines that change with every connection, so systemd gets at most one
  // per interval however busy the bus is.
  void FollowStatus(absl::AnyInvocable<std::string()> status,
                    absl::Duration interval);

  // The time between watchdog pings; zero when systemd asked for none.
  absl::Duration watchdog_interval() const { return watchdog_interval_; }

 private:
  explicit ServiceNotifier(io::EventLoop& loop) : loop_(loop) {}
  void Send(const std::string& message);
  void PingWatchdog();
  void PollStatus();

  io::EventLoop& loop_;
  std::string last_status_;
  bool stopping_ = false;
  bool send_failed_ = false;  // logged once
  absl::Duration watchdog_interval_;
  io::EventLoop::Timer watchdog_timer_;
  absl::AnyInvocable<std::string()> status_source_;
  absl::Duration status_interval_;
  io::EventLoop::Timer status_timer_;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_SERVICE_NOTIFIER_H_
