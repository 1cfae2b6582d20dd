// SPDX-License-Identifier: MIT
#include "tests/testing/notify_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace switchboard::testing {

bool HasNotifyLine(absl::string_view message, absl::string_view line) {
  for (absl::string_view got : absl::StrSplit(message, '\n')) {
    if (absl::EndsWith(line, "=") ? absl::StartsWith(got, line) : got == line) {
      return true;
    }
  }
  return false;
}

NotifySocket::NotifySocket(std::string path) : path_(std::move(path)) {
  sockaddr_un sun{};
  if (path_.size() >= sizeof sun.sun_path) {
    ADD_FAILURE() << "notify socket path too long: " << path_;
    return;
  }
  Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path_.data(), path_.size());
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun)) {
    ADD_FAILURE() << "notify socket " << path_ << ": " << std::strerror(errno);
    return;
  }
  fd_ = std::move(fd);
}

NotifySocket::~NotifySocket() {
  if (fd_.valid()) ::unlink(path_.c_str());
}

absl::StatusOr<std::string> NotifySocket::Receive(absl::Duration timeout) {
  if (!fd_.valid()) return absl::FailedPreconditionError("no notify socket");
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const int64_t left_ms = std::max<int64_t>(
        0, absl::ToInt64Milliseconds(deadline - absl::Now()) + 1);
    pollfd entry{fd_.get(), POLLIN, 0};
    const int ready = ::poll(
        &entry, 1, static_cast<int>(std::min<int64_t>(left_ms, 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return absl::ErrnoToStatus(errno, "poll");
    if (ready == 0) {
      return absl::DeadlineExceededError("no notify message in time");
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "recv");
    received_.emplace_back(buffer, static_cast<size_t>(n));
    return received_.back();
  }
}

absl::StatusOr<std::string> NotifySocket::WaitFor(absl::string_view line,
                                                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::string> message = Receive(deadline - absl::Now());
    if (absl::IsDeadlineExceeded(message.status())) {
      return absl::DeadlineExceededError(
          absl::StrCat("no notify message with '", line, "'; received: [",
                       absl::StrJoin(received_, "] ["), "]"));
    }
    if (!message.ok()) return message.status();
    if (HasNotifyLine(*message, line)) return message;
  }
}

}  // namespace switchboard::testing
