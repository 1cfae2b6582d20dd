// SPDX-License-Identifier: MIT
#include "io/signal_watch.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace switchboard::io {

absl::StatusOr<std::unique_ptr<SignalWatch>> SignalWatch::Create(
    EventLoop& loop, std::initializer_list<int> signals, Handler handler) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int signal : signals) sigaddset(&mask, signal);
  if (::pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0) {
    return absl::InternalError("pthread_sigmask(SIG_BLOCK) failed");
  }
  Fd fd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, "signalfd");
  const int raw_fd = fd.get();
  std::unique_ptr<SignalWatch> watch(
      new SignalWatch(std::move(fd), std::move(handler)));
  absl::StatusOr<EventLoop::Watch> registered = loop.WatchFd(
      raw_fd, EPOLLIN, [self = watch.get()](uint32_t) { self->OnReadable(); });
  if (!registered.ok()) return registered.status();
  watch->watch_ = *std::move(registered);
  return watch;
}

void SignalWatch::OnReadable() {
  signalfd_siginfo info;
  while (true) {
    const ssize_t n = ::read(fd_.get(), &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) {
      handler_(static_cast<int>(info.ssi_signo));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // EAGAIN: no more signals pending
  }
}

}  // namespace switchboard::io
