// SPDX-License-Identifier: MIT
//
// ChildProcess: a program the test starts (switchboardd, or the test callee),
// with its stdout on a pipe the test reads line by line under a deadline and
// its stderr in a file. Programs announce readiness by printing a line, so a
// test waits for that line instead of sleeping. The destructor kills and
// reaps a child that is still running, so no process outlives its test.
#ifndef SWITCHBOARD_TESTS_TESTING_CHILD_PROCESS_H_
#define SWITCHBOARD_TESTS_TESTING_CHILD_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/fd.h"

namespace switchboard::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with arguments argv[1..]. Its stdin is
  // /dev/null, its stdout a pipe read by ReadLine(), and its stderr goes to
  // `stderr_path` (created or truncated), or to the test's stderr if empty.
  // Safe to call while other threads run (posix_spawn, no fork handlers).
  static absl::StatusOr<ChildProcess> Start(
      const std::vector<std::string>& argv, const std::string& stderr_path);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // SIGKILLs the child if it has not been waited for, then reaps it.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // True until Wait() has collected the exit status.
  bool running() const { return pid_ > 0; }

  // The next line of stdout, without its newline. Errors: kDeadlineExceeded
  // if no whole line arrived in time; kUnavailable if the child closed its
  // stdout first (usually: it exited).
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);

  // Sends `signal` to the child. Errors: kFailedPrecondition if it was
  // already waited for; errno from kill().
  absl::Status Signal(int signal);

  // Waits for the child to exit and returns its exit code. Errors:
  // kDeadlineExceeded if it still runs after `timeout` (it keeps running);
  // kAborted if a signal ended it (the message names the signal);
  // kFailedPrecondition if it was already waited for.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Signal() then Wait(); if the child is still running after `timeout` it
  // is SIGKILLed and reaped, and the result is kDeadlineExceeded.
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);

 private:
  ChildProcess(pid_t pid, Fd pidfd, Fd stdout_fd);
  void KillAndReap();

  pid_t pid_ = -1;
  Fd pidfd_;   // readable once the child has exited
  Fd stdout_;  // read end of the child's stdout
  std::string stdout_buffer_;
  bool stdout_closed_ = false;
};

// Runs a program to completion (killing it after `timeout`) and collects
// what it printed. For startup failures and usage errors.
struct ProgramResult {
  int exit_code = -1;  // -1 if a signal ended it
  std::string stdout_text;
  std::string stderr_text;
};
absl::StatusOr<ProgramResult> RunProgram(const std::vector<std::string>& argv,
                                         absl::Duration timeout);

// The whole contents of a file. Errors: kNotFound, or errno from open/read.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_CHILD_PROCESS_H_
