// SPDX-License-Identifier: MIT
//
// BrokerProcess: the real switchboardd, started for one test in a fresh
// temporary folder and stopped with it.
//
//   class CallTest : public ::testing::TestWithParam<Transport> {
//    protected:
//     BrokerProcess broker_{GetParam()};
//   };
//
// The broker listens on unix:DIR/bus, and for Transport::kTcp also on
// tcp:127.0.0.1:0 (a port the kernel picks). It is started with
// --print-address, and the constructor returns once it printed every
// address it listens on, so the broker is ready when the test body runs;
// no test waits a fixed time. Its stderr goes to DIR/switchboardd.stderr and
// is printed when the test fails. The destructor sends SIGTERM, expects exit
// code 0 (anything else, or having to SIGKILL it, fails the test) and
// removes the folder. Construct and destroy it on the test's main thread.
#ifndef SWITCHBOARD_TESTS_TESTING_BROKER_PROCESS_H_
#define SWITCHBOARD_TESTS_TESTING_BROKER_PROCESS_H_

#include <sys/types.h>

#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "switchboard/client.h"
#include "tests/testing/child_process.h"
#include "tests/testing/transport.h"

namespace switchboard::testing {

// Path of the switchboardd binary under test.
const char* SwitchboarddPath();
// Path of switchboard_test_callee (tests/testing/test_callee.cc).
const char* TestCalleePath();

struct BrokerOptions {
  Transport transport = Transport::kUnix;
  // Extra command-line flags, e.g. "--max-pending-calls=2". An extra
  // --address adds a listener after the default ones.
  std::vector<std::string> flags;
  // An existing folder to run in, kept afterwards. Empty: a fresh folder
  // under /tmp, removed by the destructor.
  std::string dir;
  // The Unix socket's path relative to the folder; "run/bus" makes the
  // broker create the "run" folder itself.
  std::string socket_name = "bus";
  // How long the broker may take to print its addresses.
  absl::Duration startup_timeout = absl::Seconds(20);
  // Resource limits for the broker as prlimit(1) options, e.g.
  // {"--nofile=1024:1024", "--as=1073741824"}; the broker then runs under
  // prlimit (util-linux), which execs it, so pid() is still the broker's.
  std::vector<std::string> prlimit;
};

class BrokerProcess {
 public:
  explicit BrokerProcess(Transport transport = Transport::kUnix,
                         std::vector<std::string> flags = {});
  // Starts the broker. On failure the test fails (ADD_FAILURE, with the
  // broker's stderr) and started() is false.
  explicit BrokerProcess(BrokerOptions options);
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  bool started() const { return started_; }
  Transport transport() const { return options_.transport; }

  // The address clients of this test use: unix_address() or tcp_address().
  const std::string& address() const;
  // "unix:DIR/bus" as the broker printed it.
  const std::string& unix_address() const { return unix_address_; }
  // "tcp:127.0.0.1:PORT" with the real port; empty for kUnix.
  const std::string& tcp_address() const { return tcp_address_; }
  // Every address the broker printed, in --address order.
  const std::vector<std::string>& printed_addresses() const {
    return printed_addresses_;
  }
  // DIR/bus (or DIR/socket_name).
  std::string socket_path() const;
  // The TCP token file: --token-file if given, else "token" beside the socket.
  std::string token_file() const;
  // The token's contents, for raw HELLOs. Empty for kUnix.
  absl::StatusOr<std::string> ReadToken() const;
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  // Options for Client::Connect(address(), ...): a client name and, for
  // TCP, the token file.
  ConnectOptions connect_options(const std::string& client_name = "test") const;

  // Sends `signal` to the broker.
  absl::Status Signal(int signal);
  // Sends `signal` and waits for the broker to exit; returns its exit code.
  // Errors as ChildProcess::Stop. Afterwards the destructor only removes the
  // folder.
  absl::StatusOr<int> Stop(int signal = SIGTERM,
                           absl::Duration timeout = absl::Seconds(10));
  // Waits for the broker to exit on its own (after a signal sent with
  // Signal()); returns its exit code. Errors as ChildProcess::Wait.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // What the broker wrote to stderr so far.
  std::string ReadStderr() const;

 private:
  absl::Status Start();
  absl::Status ReadAddresses(size_t count);
  std::string stderr_path() const;

  BrokerOptions options_;
  std::string dir_;
  bool owns_dir_ = false;
  bool started_ = false;
  std::optional<ChildProcess> process_;
  std::vector<std::string> printed_addresses_;
  std::string unix_address_;
  std::string tcp_address_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_BROKER_PROCESS_H_
