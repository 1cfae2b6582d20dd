// SPDX-License-Identifier: MIT
#include "io/peer_identity.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/fd.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; older headers lack it
#endif

namespace switchboard::io {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string ReadLink(const std::string& path) {
  char target[4096];
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof target) return "";
  return std::string(target, static_cast<size_t>(n));
}

// Now, in /proc/PID/stat's starttime units (clock ticks since boot).
uint64_t TicksSinceBoot() {
  timespec now{};
  ::clock_gettime(CLOCK_BOOTTIME, &now);
  const long hz = ::sysconf(_SC_CLK_TCK);
  return static_cast<uint64_t>(now.tv_sec) * static_cast<uint64_t>(hz) +
         static_cast<uint64_t>(now.tv_nsec) / (1000000000 / hz);
}

// Whether the process behind `pidfd` still runs (pidfd_send_signal with
// signal 0).
bool Alive(int pidfd) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0;
}

}  // namespace

uint64_t ProcessStartTime(uint32_t pid) {
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  // "PID (COMM) STATE ..."; COMM may hold spaces and parentheses, so the
  // fields are counted from the last ')'. starttime is field 22.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(stat).substr(close + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); starttime is fields[19].
  uint64_t start = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start)) return 0;
  return start;
}

std::string UnitFromCgroup(const std::string& cgroup) {
  absl::string_view chosen;
  for (absl::string_view line : absl::StrSplit(cgroup, '\n')) {
    absl::string_view path = line;
    if (absl::ConsumePrefix(&path, "0::")) {
      chosen = path;
      break;  // cgroup v2: the one that counts
    }
    if (absl::StrContains(line, ":name=systemd:")) {
      chosen = line.substr(line.find(":name=systemd:") + 14);
    }
  }
  std::string unit;
  for (absl::string_view part : absl::StrSplit(chosen, '/')) {
    if (absl::EndsWith(part, ".service") || absl::EndsWith(part, ".scope")) {
      unit = std::string(part);
    }
  }
  return unit;
}

absl::StatusOr<PeerIdentity> IdentifyPeer(int fd) {
  PeerIdentity identity;
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
    return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERCRED)");
  }
  identity.uid = cred.uid;
  identity.gid = cred.gid;
  identity.pid = static_cast<uint32_t>(cred.pid);

  std::vector<gid_t> groups(16);
  while (true) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) ==
        0) {
      groups.resize(bytes / sizeof(gid_t));
      break;
    }
    if (errno != ERANGE) {
      return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERGROUPS)");
    }
    groups.resize(bytes / sizeof(gid_t) + 1);  // the kernel says how many
  }
  identity.groups.assign(groups.begin(), groups.end());
  if (identity.pid == 0) return identity;

  int raw_pidfd = -1;
  length = sizeof raw_pidfd;
  Fd pidfd;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &raw_pidfd, &length) == 0) {
    pidfd = Fd(raw_pidfd);
  }
  const uint64_t looked_up_at = TicksSinceBoot();
  const std::string proc = absl::StrCat("/proc/", identity.pid);
  const uint64_t start = ProcessStartTime(identity.pid);
  identity.executable = ReadLink(proc + "/exe");
  identity.unit = UnitFromCgroup(ReadFile(proc + "/cgroup"));
  identity.start_time = start;
  if (pidfd.valid()) {
    // The pidfd pins the peer's process: while it runs, the pid is its.
    identity.through_pidfd = true;
    identity.process_verified = start != 0 && Alive(pidfd.get());
  } else {
    // Without a pidfd: the same process before and after the reads (a
    // reused pid has a later start time), and not one started after the
    // lookup began.
    identity.process_verified = start != 0 && start <= looked_up_at &&
                                ProcessStartTime(identity.pid) == start;
  }
  if (!identity.process_verified) {
    identity.start_time = 0;
    identity.executable.clear();
    identity.unit.clear();
  }
  return identity;
}

}  // namespace switchboard::io
