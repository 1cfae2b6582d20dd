// SPDX-License-Identifier: MIT
#include "tests/testing/socket_activation.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "base/fd.h"
#include "gtest/gtest.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/wait_for.h"

namespace switchboard::testing {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(20);
// Another program may take the free port between our probe and
// systemd-socket-activate's bind; then we try another.
constexpr int kPortAttempts = 5;

// A port on 127.0.0.1 nothing listens on right now.
absl::StatusOr<uint16_t> FreeLoopbackPort() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof sin;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &length) !=
          0) {
    return absl::ErrnoToStatus(errno, "bind 127.0.0.1:0");
  }
  return ntohs(sin.sin_port);
}

// Whether a process listens on the unix socket at `path`: a connection is
// accepted or queued (EAGAIN: the backlog is full); ECONNREFUSED means
// the file is left from a listener that is gone.
absl::StatusOr<bool> SomebodyListens(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("path too long: ", path));
  }
  std::memcpy(sun.sun_path, path.data(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0 ||
      errno == EAGAIN) {
    return true;
  }
  if (errno == ECONNREFUSED) return false;
  return absl::ErrnoToStatus(errno, absl::StrCat("connect ", path));
}

}  // namespace

const char* SystemdSocketActivatePath() {
  return "/usr/bin/systemd-socket-activate";
}

SocketActivatedBroker::SocketActivatedBroker(SocketActivationOptions options)
    : options_(std::move(options)) {
  absl::Status status = Start();
  if (!status.ok()) {
    ADD_FAILURE() << "systemd-socket-activate did not start: " << status
                  << "\n--- stderr ---\n"
                  << ReadStderr() << "--- end of stderr ---";
    process_.reset();  // kills it if it still runs
    return;
  }
  started_ = true;
}

SocketActivatedBroker::~SocketActivatedBroker() {
  if (process_ && process_->running()) {
    const bool broker = BrokerRunning();
    absl::StatusOr<int> code = process_->Stop(SIGTERM, absl::Seconds(10));
    if (options_.expect_clean_exit && broker && (!code.ok() || *code != 0)) {
      ADD_FAILURE() << "switchboardd did not exit cleanly on SIGTERM: "
                    << (code.ok() ? absl::StrCat("exit code ", *code)
                                  : code.status().ToString());
    }
  }
  if (started_ && ::testing::Test::HasFailure()) {
    std::cerr << "--- stderr of systemd-socket-activate and switchboardd ---\n"
              << ReadStderr() << "--- end of stderr ---\n";
  }
  // own_dir_, if any, goes with its contents; in the caller's folder only
  // this broker's stderr file goes.
  if (!own_dir_ && !stderr_path_.empty()) {
    std::error_code error;
    std::filesystem::remove(stderr_path_, error);
  }
}

absl::Status SocketActivatedBroker::Start() {
  if (options_.dir.empty()) {
    // Short, so DIR/bus stays far below the 108-byte sun_path limit.
    own_dir_.emplace("sbsa");
    if (own_dir_->path().empty()) return absl::InternalError("no folder");
    dir_ = own_dir_->path();
    stderr_path_ = absl::StrCat(dir_, "/stderr");
  } else {
    dir_ = options_.dir;
    // Its own file: an earlier broker's stderr may still be there.
    std::string stderr_template = absl::StrCat(dir_, "/stderr-XXXXXX");
    const int fd = ::mkstemp(stderr_template.data());
    if (fd < 0) return absl::ErrnoToStatus(errno, "mkstemp in " + dir_);
    ::close(fd);
    stderr_path_ = stderr_template;
    if (absl::Status removed = RemoveStaleSockets(); !removed.ok()) {
      return removed;
    }
  }
  if (!options_.tcp) return StartOnce(0);
  absl::Status status;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    absl::StatusOr<uint16_t> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    status = StartOnce(*port);
    if (status.ok()) return status;
    process_.reset();
  }
  return status;
}

// systemd-socket-activate (systemd 252) would replace any file at the
// path, even a socket a live broker listens on; this removes only a stale
// one, left by a broker that was killed (a broker given its sockets by
// systemd never removes their files), and refuses to take the path of a
// live one, which would be a test's mistake.
absl::Status SocketActivatedBroker::RemoveStaleSockets() const {
  for (const std::string& name : options_.sockets) {
    const std::string socket_path = path(name);
    std::error_code error;
    if (!std::filesystem::exists(socket_path, error)) continue;
    absl::StatusOr<bool> listens = SomebodyListens(socket_path);
    if (!listens.ok()) return listens.status();
    if (*listens) {
      return absl::FailedPreconditionError(
          absl::StrCat("something still listens on ", socket_path));
    }
    if (!std::filesystem::remove(socket_path, error)) {
      return absl::InternalError(absl::StrCat(
          "remove stale socket ", socket_path, ": ", error.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status SocketActivatedBroker::StartOnce(uint16_t tcp_port) {
  std::vector<std::string> argv = {SystemdSocketActivatePath()};
  size_t sockets = 0;
  for (const std::string& name : options_.sockets) {
    argv.push_back(absl::StrCat("--listen=", path(name)));
    ++sockets;
  }
  if (tcp_port != 0) {
    tcp_address_ = absl::StrCat("tcp:127.0.0.1:", tcp_port);
    argv.push_back(absl::StrCat("--listen=127.0.0.1:", tcp_port));
    ++sockets;
  }
  if (options_.datagram) argv.push_back("--datagram");
  if (!options_.fd_names.empty()) {
    argv.push_back(
        absl::StrCat("--fdname=", absl::StrJoin(options_.fd_names, ":")));
  }
  for (const std::string& variable : options_.environment) {
    argv.push_back(absl::StrCat(
        "--setenv=", absl::StrReplaceAll(variable, {{"{dir}", dir_}})));
  }
  argv.push_back(SwitchboarddPath());
  for (const std::string& flag : options_.flags) {
    argv.push_back(absl::StrReplaceAll(flag, {{"{dir}", dir_}}));
  }
  absl::StatusOr<ChildProcess> process =
      ChildProcess::Start(argv, stderr_path_);
  if (!process.ok()) return process.status();
  process_.emplace(*std::move(process));

  // systemd-socket-activate logs "Listening on ADDRESS as FD." for each
  // socket once it listens there.
  bool exited = false;
  const bool listening = WaitFor(
      [&] {
        exited = !absl::IsDeadlineExceeded(
            process_->Wait(absl::ZeroDuration()).status());
        const std::string text = ReadStderr();
        size_t count = 0;
        for (size_t at = text.find("Listening on "); at != std::string::npos;
             at = text.find("Listening on ", at + 1)) {
          ++count;
        }
        return exited || count == sockets;
      },
      kStartTimeout);
  if (exited) {
    return absl::UnavailableError(
        "systemd-socket-activate exited before listening");
  }
  if (!listening) {
    return absl::DeadlineExceededError(
        "systemd-socket-activate did not report listening on every socket");
  }
  return absl::OkStatus();
}

std::string SocketActivatedBroker::path(const std::string& name) const {
  return absl::StrCat(dir_, "/", name);
}

std::string SocketActivatedBroker::unix_address(const std::string& name) const {
  return absl::StrCat("unix:", path(name));
}

bool SocketActivatedBroker::BrokerRunning() const {
  if (!process_ || !process_->running()) return false;
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink(
      absl::StrCat("/proc/", process_->pid(), "/exe"), error);
  return !error && std::filesystem::equivalent(exe, SwitchboarddPath(), error);
}

absl::StatusOr<int> SocketActivatedBroker::Stop(int signal,
                                                absl::Duration timeout) {
  if (!process_) return absl::FailedPreconditionError("not started");
  return process_->Stop(signal, timeout);
}

absl::StatusOr<int> SocketActivatedBroker::Wait(absl::Duration timeout) {
  if (!process_) return absl::FailedPreconditionError("not started");
  return process_->Wait(timeout);
}

std::string SocketActivatedBroker::ReadStderr() const {
  if (stderr_path_.empty()) return "";
  absl::StatusOr<std::string> text = ReadFileToString(stderr_path_);
  return text.ok() ? *std::move(text) : "";
}

}  // namespace switchboard::testing
