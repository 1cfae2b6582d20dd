// SPDX-License-Identifier: MIT
//
// ChildProcess: one process the bench starts (a re-exec of itself in some
// role, or switchboardd) and always stops and reaps. The bench's coordinator
// is single-threaded, so fork() + exec() is safe there.
//
// Every child gets stdin from a pipe the coordinator holds (closing it is the
// child's cue to finish), stdout into a pipe the coordinator reads (readiness
// lines, the client's report), and the coordinator's stderr. It inherits the
// coordinator's CPU affinity, which is how --pin reaches every process. It
// leads its own process group, which Terminate() and the destructor signal
// as a whole, and gets SIGKILL if the coordinator dies.
#ifndef SWITCHBOARD_BENCH_CHILD_PROCESS_H_
#define SWITCHBOARD_BENCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/fd.h"

namespace switchboard::bench {

// Makes SIGINT and SIGTERM interrupt the coordinator's waits instead of
// killing it, so it can still stop its children and remove its files.
void InstallInterruptHandler();
// True once SIGINT or SIGTERM arrived.
bool Interrupted();

// "exit 0", "exit 3", "killed by SIGKILL".
std::string DescribeWaitStatus(int wait_status);

// The child's side. Tells the coordinator this child is ready: writes the line
// "ready" to stdout. Errors from write() as ErrnoToStatus.
absl::Status AnnounceReady();
// Blocks until the coordinator closes this child's stdin (or dies).
void WaitForStopCue();

class ChildProcess {
 public:
  struct Options {
    std::string name;               // for messages: "floor-relay relay"
    std::vector<std::string> argv;  // argv[0] is the executable's path
    // Descriptors to hand down: {fd in the coordinator, fd number in the
    // child}, at most 16. Child numbers must be >= 3 and below 64; nothing
    // else is inherited.
    std::vector<std::pair<int, int>> fds;
  };

  // Forks and execs. Errors: kInvalidArgument for too many fds; from
  // pipe2/fork/pidfd_open as ErrnoToStatus. A failing exec shows up later as
  // the child exiting with status 127.
  static absl::StatusOr<ChildProcess> Start(const Options& options);

  // Kills (SIGKILL, its whole process group) and reaps the child if it is
  // still running.
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }

  // Reads one line (without its '\n') from the child's stdout: the readiness
  // signal. Errors: kDeadlineExceeded after `timeout`; kUnavailable if the
  // child closed stdout first (it exited: the message says how);
  // kCancelled if Interrupted().
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);

  // Reads the child's stdout until it is closed. Errors as ReadLine().
  absl::StatusOr<std::string> ReadToEnd(absl::Duration timeout);

  // Closes the child's stdin and waits up to `grace` for it to exit; then
  // sends SIGTERM and waits `grace` more; then SIGKILL. Returns the wait
  // status. Errors: kCancelled if Interrupted() (the destructor still kills).
  absl::StatusOr<int> Stop(absl::Duration grace);

  // Sends SIGTERM (to the child's process group) and waits up to `grace`,
  // then SIGKILL. Returns the wait status. Errors: kCancelled if
  // Interrupted().
  absl::StatusOr<int> Terminate(absl::Duration grace);

  // Waits up to `timeout` (zero: just looks) for the child to exit and reaps
  // it. Returns its wait status, or nullopt if it is still running. Errors:
  // kCancelled if Interrupted().
  absl::StatusOr<std::optional<int>> WaitFor(absl::Duration timeout);

 private:
  ChildProcess() = default;
  // Reads what is available into buffer_; false at end of file.
  absl::StatusOr<bool> ReadSome(absl::Time deadline);
  absl::Status ExitedEarly();
  void KillAndReap();

  std::string name_;
  pid_t pid_ = -1;
  Fd pidfd_;                        // readable once the child has exited
  Fd input_;                        // the child's stdin
  Fd output_;                       // the child's stdout
  std::string buffer_;              // read from output_, not yet returned
  std::optional<int> wait_status_;  // set once reaped
};

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_CHILD_PROCESS_H_
