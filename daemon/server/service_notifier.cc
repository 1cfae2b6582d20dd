// SPDX-License-Identifier: MIT
#include "daemon/server/service_notifier.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace switchboard::server {
namespace {

// sd_notify() ends a variable at a newline, so a status line keeps to one.
std::string OneLine(absl::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  return line;
}

// CLOCK_MONOTONIC in microseconds, as systemd wants it beside RELOADING=1.
uint64_t MonotonicMicros() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000 +
         static_cast<uint64_t>(now.tv_nsec) / 1000;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceNotifier>> ServiceNotifier::Create(
    io::EventLoop& loop) {
  std::unique_ptr<ServiceNotifier> notifier(new ServiceNotifier(loop));
  uint64_t usec = 0;
  // unset_environment=1: an activated program must not ping for us.
  const int enabled = sd_watchdog_enabled(1, &usec);
  if (enabled < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad WATCHDOG_USEC or WATCHDOG_PID from systemd: ",
                     std::strerror(-enabled)));
  }
  if (enabled > 0) {
    // Half the interval, as sd_watchdog_enabled(3) advises: one late loop
    // turn is not yet a missed deadline.
    notifier->watchdog_interval_ =
        absl::Microseconds(static_cast<int64_t>(usec / 2));
    SB_LOG(INFO) << "pinging the systemd watchdog every "
                 << notifier->watchdog_interval_;
    notifier->PingWatchdog();
  }
  return notifier;
}

void ServiceNotifier::Ready(absl::string_view status) {
  if (stopping_) return;  // a SIGHUP during shutdown
  last_status_ = OneLine(status);
  Send(absl::StrCat("READY=1\nSTATUS=", last_status_));
}

void ServiceNotifier::Reloading(absl::string_view status) {
  if (stopping_) return;
  last_status_ = OneLine(status);
  // MONOTONIC_USEC= is what systemd 253's Type=notify-reload expects too.
  Send(absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", MonotonicMicros(),
                    "\nSTATUS=", last_status_));
}

void ServiceNotifier::Stopping(absl::string_view status) {
  stopping_ = true;
  status_timer_.Cancel();
  last_status_ = OneLine(status);
  Send(absl::StrCat("STOPPING=1\nSTATUS=", last_status_));
}

void ServiceNotifier::SetStatus(absl::string_view status) {
  if (stopping_) return;
  std::string line = OneLine(status);
  if (line == last_status_) return;
  last_status_ = std::move(line);
  Send(absl::StrCat("STATUS=", last_status_));
}

void ServiceNotifier::FollowStatus(absl::AnyInvocable<std::string()> status,
                                   absl::Duration interval) {
  status_source_ = std::move(status);
  status_interval_ = interval;
  PollStatus();
}

void ServiceNotifier::PollStatus() {
  if (stopping_) return;
  SetStatus(status_source_());
  status_timer_ = loop_.RunAfter(status_interval_, [this] { PollStatus(); });
}

void ServiceNotifier::PingWatchdog() {
  Send("WATCHDOG=1");
  watchdog_timer_ =
      loop_.RunAfter(watchdog_interval_, [this] { PingWatchdog(); });
}

void ServiceNotifier::Send(const std::string& message) {
  const int sent = sd_notify(0, message.c_str());
  if (sent >= 0 || send_failed_) return;
  // The manager went away or the socket is wrong; the broker serves on.
  send_failed_ = true;
  SB_LOG(WARNING) << "cannot notify systemd: "
                  << absl::ErrnoToStatus(-sent, "sd_notify");
}

}  // namespace switchboard::server
