// SPDX-License-Identifier: MIT
//
// SocketActivatedBroker: the real switchboardd, started the way a systemd
// socket unit starts it. systemd-socket-activate (from the systemd package)
// creates and listens on the sockets first, waits for the first client,
// and only then execs the broker in its own process, passing the listening
// sockets as LISTEN_FDS/LISTEN_FDNAMES. So pid() is first
// systemd-socket-activate's and later the broker's, and a client can
// connect before the broker runs.
//
//   SocketActivatedBroker broker({.sockets = {"bus"}});
//   ASSERT_TRUE(broker.started());
//   EXPECT_FALSE(broker.BrokerRunning());  // nobody connected yet
//
// Everything lives in a fresh folder under /tmp, removed by the
// destructor, unless options.dir names an existing folder to use: then a
// second broker can listen on the socket path of a first one that was
// stopped (as a restarted systemd socket unit does), and the folder stays.
// The destructor also stops the process (SIGTERM, then SIGKILL) and fails
// the test if the broker did not exit cleanly. Its stderr (both programs')
// is printed when the test fails.
#ifndef SWITCHBOARD_TESTS_TESTING_SOCKET_ACTIVATION_H_
#define SWITCHBOARD_TESTS_TESTING_SOCKET_ACTIVATION_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/child_process.h"
#include "tests/testing/temp_dir.h"

namespace switchboard::testing {

struct SocketActivationOptions {
  // An existing folder for the sockets and stderr, which the caller owns
  // and the destructor leaves in place; empty: a fresh folder under /tmp.
  // A socket file in it that nobody listens on any more (left by a broker
  // that was killed) is removed first; one that somebody still listens on
  // makes the start fail.
  std::string dir;
  // Unix sockets to listen on, as names of files in the folder, in order
  // (fd 3, 4, ...).
  std::vector<std::string> sockets = {"bus"};
  // Also listen on 127.0.0.1 at a free port, after the unix sockets.
  bool tcp = false;
  // Datagram sockets instead of stream ones (which the broker refuses).
  bool datagram = false;
  // LISTEN_FDNAMES, one per socket; empty: systemd-socket-activate's
  // default ("unknown").
  std::vector<std::string> fd_names;
  // NAME=VALUE variables for the broker's environment. The folder's path
  // replaces "{dir}" in each.
  std::vector<std::string> environment;
  // Broker flags, with "{dir}" replaced as above.
  std::vector<std::string> flags;
  // The broker must exit 0 on SIGTERM (the destructor checks).
  bool expect_clean_exit = true;
};

class SocketActivatedBroker {
 public:
  // Starts systemd-socket-activate and returns once it listens on every
  // socket. On failure the test fails (ADD_FAILURE, with stderr) and
  // started() is false.
  explicit SocketActivatedBroker(SocketActivationOptions options);
  ~SocketActivatedBroker();
  SocketActivatedBroker(const SocketActivatedBroker&) = delete;
  SocketActivatedBroker& operator=(const SocketActivatedBroker&) = delete;

  bool started() const { return started_; }
  const std::string& dir() const { return dir_; }
  // DIR/NAME, the path of a unix socket.
  std::string path(const std::string& name) const;
  // "unix:DIR/NAME".
  std::string unix_address(const std::string& name = "bus") const;
  // "tcp:127.0.0.1:PORT" when options.tcp; empty otherwise.
  const std::string& tcp_address() const { return tcp_address_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  // Whether the process is switchboardd yet (systemd-socket-activate has
  // exec'd it), from /proc/PID/exe.
  bool BrokerRunning() const;
  // Sends `signal` and waits for the exit; returns the exit code. Errors as
  // ChildProcess::Stop. Afterwards the destructor only cleans up.
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);
  // Waits for the process to exit on its own; returns its exit code.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // What both programs wrote to stderr so far.
  std::string ReadStderr() const;

 private:
  absl::Status Start();
  absl::Status StartOnce(uint16_t tcp_port);
  absl::Status RemoveStaleSockets() const;

  SocketActivationOptions options_;
  std::string dir_;
  std::optional<TempDir> own_dir_;  // when options.dir is empty
  std::string stderr_path_;
  bool started_ = false;
  std::optional<ChildProcess> process_;
  std::string tcp_address_;
};

// Path of systemd-socket-activate.
const char* SystemdSocketActivatePath();

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_SOCKET_ACTIVATION_H_
