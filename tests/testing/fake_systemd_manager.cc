// SPDX-License-Identifier: MIT
//
// switchboard_test_fake_systemd: plays the part of the systemd user
// manager on a private D-Bus session bus (dbus-daemon), for the tests of
// the broker's unit activation, where no real user manager runs. It owns
// org.freedesktop.systemd1 and serves the two methods of
// org.freedesktop.systemd1.Manager the broker uses:
//
//   Subscribe()                       answers at once
//   StartUnit(s unit, s mode) -> o    by the unit's name:
//     "ok-*":   runs --run (with /bin/sh -c), returns a job path, then
//               signals JobRemoved(id, job, unit, "done")
//     "fail-*": returns a job path, then signals JobRemoved(..., "failed")
//     other:    error org.freedesktop.systemd1.NoSuchUnit
//
// It prints "ready" once it owns the name, and "StartUnit UNIT MODE" for
// each call. It reaps what it runs (SIGCHLD ignored). Exit codes: 1 if the
// bus cannot be used, 2 on a usage error; otherwise it runs until killed.
#include <signal.h>
#include <spawn.h>
#include <systemd/sd-bus.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/flags.h"

extern char** environ;

namespace {

std::string run_command;
uint32_t next_job = 1;

int StartUnit(sd_bus_message* call, void*, sd_bus_error* error) {
  const char* unit = nullptr;
  const char* mode = nullptr;
  int r = sd_bus_message_read(call, "ss", &unit, &mode);
  if (r < 0) return r;
  std::cout << "StartUnit " << unit << " " << mode << std::endl;
  const bool ok = absl::StartsWith(unit, "ok-");
  if (!ok && !absl::StartsWith(unit, "fail-")) {
    return sd_bus_error_setf(error, "org.freedesktop.systemd1.NoSuchUnit",
                             "Unit %s not found.", unit);
  }
  if (ok) {
    const char* argv[] = {"/bin/sh", "-c", run_command.c_str(), nullptr};
    pid_t pid = 0;
    if (::posix_spawn(&pid, "/bin/sh", nullptr, nullptr,
                      const_cast<char**>(argv), environ) != 0) {
      return sd_bus_error_set_const(error, "org.freedesktop.DBus.Error.Failed",
                                    "cannot run the command");
    }
  }
  const uint32_t id = next_job++;
  const std::string job = absl::StrCat("/org/freedesktop/systemd1/job/", id);
  r = sd_bus_reply_method_return(call, "o", job.c_str());
  if (r < 0) return r;
  return sd_bus_emit_signal(
      sd_bus_message_get_bus(call), "/org/freedesktop/systemd1",
      "org.freedesktop.systemd1.Manager", "JobRemoved", "uoss", id, job.c_str(),
      unit, ok ? "done" : "failed");
}

int Subscribe(sd_bus_message* call, void*, sd_bus_error*) {
  return sd_bus_reply_method_return(call, "");
}

const sd_bus_vtable kManager[] = {
    SD_BUS_VTABLE_START(0), SD_BUS_METHOD("StartUnit", "ss", "o", StartUnit, 0),
    SD_BUS_METHOD("Subscribe", "", "", Subscribe, 0),
    SD_BUS_SIGNAL("JobRemoved", "uoss", 0), SD_BUS_VTABLE_END};

int Fail(const char* what, int r) {
  std::cerr << "fake systemd: " << what << ": " << std::strerror(-r) << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  switchboard::FlagParser flags(
      "switchboard_test_fake_systemd",
      "Answers StartUnit as the systemd user manager would, on the session "
      "bus ($DBUS_SESSION_BUS_ADDRESS), for tests.");
  flags.AddString("run", &run_command, "SHELL",
                  "What starting an \"ok-*\" unit runs, with /bin/sh -c.");
  flags.ParseOrExit(argc, argv);
  ::signal(SIGCHLD, SIG_IGN);
  sd_bus* bus = nullptr;
  int r = sd_bus_open_user(&bus);
  if (r < 0) return Fail("sd_bus_open_user", r);
  r = sd_bus_add_object_vtable(bus, nullptr, "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", kManager,
                               nullptr);
  if (r < 0) return Fail("sd_bus_add_object_vtable", r);
  r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
  if (r < 0) return Fail("sd_bus_request_name", r);
  std::cout << "ready" << std::endl;
  while (true) {
    r = sd_bus_process(bus, nullptr);
    if (r < 0) return Fail("sd_bus_process", r);
    if (r > 0) continue;
    r = sd_bus_wait(bus, UINT64_MAX);
    if (r < 0 && r != -EINTR) return Fail("sd_bus_wait", r);
  }
}
