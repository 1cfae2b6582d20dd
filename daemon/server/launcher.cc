// SPDX-License-Identifier: MIT
#include "daemon/server/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"

extern char** environ;

namespace switchboard::server {
namespace {

constexpr absl::string_view kAddressVariable = "SWITCHBOARD_ADDRESS";

// The broker's environment with SWITCHBOARD_ADDRESS set to `address`
// (unchanged when `address` is empty: the broker listens on TCP only), and
// without NOTIFY_SOCKET: the started program is not the service systemd
// started, and must not report readiness for it. (LISTEN_* and WATCHDOG_*
// were cleared from the broker's environment when it started.)
std::vector<std::string> ChildEnvironment(absl::string_view address) {
  std::vector<std::string> env;
  const std::string prefix = absl::StrCat(kAddressVariable, "=");
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (absl::StartsWith(*entry, "NOTIFY_SOCKET=")) continue;
    if (address.empty() || !absl::StartsWith(*entry, prefix)) {
      env.emplace_back(*entry);
    }
  }
  if (!address.empty()) env.push_back(absl::StrCat(prefix, address));
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

std::string DescribeExit(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) {
    return absl::StrCat("exited with status ", info.si_status);
  }
  return absl::StrCat("was killed by signal ", info.si_status, " (",
                      ::strsignal(info.si_status), ")");
}

}  // namespace

Launcher::Launcher(io::EventLoop& loop, FailureCallback on_failure)
    : loop_(loop),
      on_failure_(std::move(on_failure)),
      units_(loop, [this](absl::string_view name, uint64_t attempt,
                          absl::string_view reason) {
        on_failure_(name, attempt, reason);
      }) {}

Launcher::~Launcher() {
  // The programs go on running; see the header. Their pidfds close here.
  if (!children_.empty()) {
    SB_LOG(INFO) << "leaving " << children_.size()
                 << " started program(s) running";
  }
}

absl::Status Launcher::Start(const core::ActivatableService& service,
                             uint64_t attempt) {
  if (!service.systemd_unit.empty()) {
    SB_LOG(INFO) << "activating " << service.name << ": starting unit "
                 << service.systemd_unit;
    return units_.Start(service.name, service.systemd_unit, attempt);
  }
  return Spawn(service, attempt);
}

absl::Status Launcher::Spawn(const core::ActivatableService& service,
                             uint64_t attempt) {
  std::vector<std::string> argv = service.command;
  std::vector<std::string> env = ChildEnvironment(broker_address_);
  std::vector<char*> argv_pointers = Pointers(argv);
  std::vector<char*> env_pointers = Pointers(env);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attributes);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
  // The broker blocks the signals it reads from signalfds and ignores
  // SIGPIPE; a started program must begin with neither.
  sigset_t none;
  sigset_t all;
  ::sigemptyset(&none);
  ::sigfillset(&all);
  ::posix_spawnattr_setsigmask(&attributes, &none);
  ::posix_spawnattr_setsigdefault(&attributes, &all);
  ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETSID);
  pid_t pid = 0;
  // glibc's posix_spawn waits until exec succeeded or failed, so a program
  // that cannot run is an error here, not an exit status 127 later.
  const int error =
      ::posix_spawnp(&pid, argv_pointers[0], &actions, &attributes,
                     argv_pointers.data(), env_pointers.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    return absl::ErrnoToStatus(error, absl::StrCat("cannot run ", argv[0]));
  }
  SB_LOG(INFO) << "activating " << service.name << ": started "
               << service.Describe() << " as pid " << pid;

  auto child = std::make_unique<Child>();
  child->name = service.name;
  child->attempt = attempt;
  child->program = argv[0];
  child->pid = pid;
  child->pidfd = Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!child->pidfd.valid()) {
    // Without a pidfd the child cannot be watched; wait for it at once
    // rather than leave a zombie. Never expected on Linux 5.3 or later.
    const absl::Status status =
        absl::ErrnoToStatus(errno, absl::StrCat("pidfd_open ", pid));
    ::waitpid(pid, nullptr, 0);
    return status;
  }
  absl::StatusOr<io::EventLoop::Watch> watch = loop_.WatchFd(
      child->pidfd.get(), EPOLLIN, [this, pid](uint32_t) { OnExited(pid); });
  if (!watch.ok()) {
    ::waitpid(pid, nullptr, 0);
    return watch.status();
  }
  child->watch = *std::move(watch);
  children_[pid] = std::move(child);
  return absl::OkStatus();
}

void Launcher::OnExited(pid_t pid) {
  auto node = children_.extract(pid);
  if (node.empty()) return;
  Child& child = *node.mapped();
  siginfo_t info{};
  if (::waitid(P_PIDFD, static_cast<id_t>(child.pidfd.get()), &info,
               WEXITED | WNOHANG) != 0 ||
      info.si_pid == 0) {
    // Not exited after all; keep watching.
    children_.insert(std::move(node));
    return;
  }
  const std::string how = DescribeExit(info);
  SB_LOG(INFO) << child.program << " (pid " << pid << ", started for "
               << child.name << ") " << how;
  // The watch is destroyed inside its own callback, which the loop allows.
  node.mapped()->watch.reset();
  on_failure_(
      child.name, child.attempt,
      absl::StrCat(child.program, " ", how, " before claiming the name"));
}

}  // namespace switchboard::server
