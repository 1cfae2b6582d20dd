// SPDX-License-Identifier: MIT
//
// SignalWatch: delivers signals (SIGTERM, SIGINT, ...) through an EventLoop
// instead of an asynchronous handler, so the handler may do anything the
// loop thread may do (start a graceful shutdown, flush sessions). It blocks
// the signals in the calling thread and reads them from a signalfd.
#ifndef SWITCHBOARD_IO_SIGNAL_WATCH_H_
#define SWITCHBOARD_IO_SIGNAL_WATCH_H_

#include <initializer_list>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "base/fd.h"
#include "io/event_loop.h"

namespace switchboard::io {

class SignalWatch {
 public:
  using Handler = absl::AnyInvocable<void(int signal)>;

  // Blocks `signals` in the calling thread (create it before starting other
  // threads, which inherit the mask) and calls `handler` on the loop thread
  // for each one received. `loop` must outlive the watch. The signals stay
  // blocked after the watch is destroyed, so a late one stays pending rather
  // than killing the process. Errors: from sigprocmask, signalfd, epoll.
  static absl::StatusOr<std::unique_ptr<SignalWatch>> Create(
      EventLoop& loop, std::initializer_list<int> signals, Handler handler);

 private:
  SignalWatch(Fd fd, Handler handler)
      : fd_(std::move(fd)), handler_(std::move(handler)) {}
  void OnReadable();

  Fd fd_;
  Handler handler_;
  EventLoop::Watch watch_;  // after fd_: removed from epoll before the close
};

}  // namespace switchboard::io

#endif  // SWITCHBOARD_IO_SIGNAL_WATCH_H_
