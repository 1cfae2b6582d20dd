// SPDX-License-Identifier: MIT
//
// NotifySocket: plays systemd's side of sd_notify(3) for a test. It binds an
// AF_UNIX datagram socket in a folder the test owns; a broker started with
// NOTIFY_SOCKET=path() sends its READY=1, STATUS=, STOPPING=1 and
// WATCHDOG=1 messages there, and the test reads them under a deadline.
//
//   NotifySocket notify(dir + "/notify");
//   ... start the broker with "NOTIFY_SOCKET=" + notify.path() ...
//   absl::StatusOr<std::string> ready = notify.WaitFor("READY=1", timeout);
#ifndef SWITCHBOARD_TESTS_TESTING_NOTIFY_SOCKET_H_
#define SWITCHBOARD_TESTS_TESTING_NOTIFY_SOCKET_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/fd.h"

namespace switchboard::testing {

class NotifySocket {
 public:
  // Binds `path` (which must not exist; under 108 bytes). A failure fails
  // the test (ADD_FAILURE) and leaves ok() false. The file is removed by
  // the destructor.
  explicit NotifySocket(std::string path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool ok() const { return fd_.valid(); }
  const std::string& path() const { return path_; }

  // The next message, e.g. "READY=1\nSTATUS=Serving on ...". Errors:
  // kDeadlineExceeded if none arrived in time.
  absl::StatusOr<std::string> Receive(absl::Duration timeout);
  // Receives until a message has a line equal to `line` (e.g. "READY=1")
  // or starting with it when it ends in '=' (e.g. "STATUS="); returns that
  // message. Every message received, matching or not, is kept in
  // received(). Errors: kDeadlineExceeded naming `line` and what came.
  absl::StatusOr<std::string> WaitFor(absl::string_view line,
                                      absl::Duration timeout);
  const std::vector<std::string>& received() const { return received_; }

 private:
  std::string path_;
  Fd fd_;
  std::vector<std::string> received_;
};

// Whether `message` has a line equal to `line`, or starting with it when
// `line` ends in '='.
bool HasNotifyLine(absl::string_view message, absl::string_view line);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_NOTIFY_SOCKET_H_
