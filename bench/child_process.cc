// SPDX-License-Identifier: MIT
#include "bench/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace switchboard::bench {
namespace {

// More than any role needs; a fixed array keeps the forked child off malloc.
constexpr size_t kMaxInheritedFds = 16;

volatile std::sig_atomic_t interrupted = 0;

void OnInterrupt(int /*signal*/) { interrupted = 1; }

// Milliseconds for poll() until `deadline`, rounded up, capped so that an
// infinite deadline still wakes up now and then.
int PollTimeoutMs(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(
      absl::Ceil(std::min(left, absl::Seconds(1)), absl::Milliseconds(1))));
}

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void ExecChild(const std::vector<char*>& argv, pid_t parent,
                            int stdin_fd, int stdout_fd,
                            const std::vector<std::pair<int, int>>& fds) {
  // The bench may be killed without a chance to clean up; take the children
  // with it. SIGKILL, not SIGTERM: with the coordinator gone nobody waits for
  // a graceful exit, and a child whose shutdown hangs must not linger holding
  // the caller's pipes. (Checked after the prctl: the parent may be gone.)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  // Its own process group, so that stopping the child also stops whatever it
  // starts (a --broker wrapper script, valgrind), and a terminal's Ctrl-C
  // reaches only the coordinator, which then stops everything in order.
  ::setpgid(0, 0);
  ::dup2(stdin_fd, 0);
  ::dup2(stdout_fd, 1);
  // Move the sources out of the way first, so that one mapping's target
  // cannot overwrite another's source. dup2 clears close-on-exec.
  int moved[kMaxInheritedFds];
  for (size_t i = 0; i < fds.size(); ++i) {
    moved[i] = ::fcntl(fds[i].first, F_DUPFD_CLOEXEC, 64);
  }
  for (size_t i = 0; i < fds.size(); ++i) ::dup2(moved[i], fds[i].second);
  // Ignored signals stay ignored across exec; give the child the defaults.
  for (int sig : {SIGPIPE, SIGINT, SIGTERM}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execv(argv[0], argv.data());
  const char* message = "switchboard-bench: exec failed: ";
  (void)!::write(2, message, std::strlen(message));
  (void)!::write(2, argv[0], std::strlen(argv[0]));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

}  // namespace

void InstallInterruptHandler() {
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked poll() returns EINTR
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  // Children's pipes may close under us; a write there is an error, not death.
  ::signal(SIGPIPE, SIG_IGN);
}

bool Interrupted() { return interrupted != 0; }

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("exit ", WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    const char* abbrev = sigabbrev_np(sig);
    return abbrev != nullptr ? absl::StrCat("killed by SIG", abbrev)
                             : absl::StrCat("killed by signal ", sig);
  }
  return absl::StrCat("wait status ", wait_status);
}

absl::Status AnnounceReady() {
  static constexpr absl::string_view kLine = "ready\n";
  while (::write(1, kLine.data(), kLine.size()) < 0) {
    if (errno != EINTR) return absl::ErrnoToStatus(errno, "write ready line");
  }
  return absl::OkStatus();
}

void WaitForStopCue() {
  char byte;
  while (true) {
    ssize_t n = ::read(0, &byte, 1);
    if (n == 0) return;                   // end of file: the cue
    if (n < 0 && errno != EINTR) return;  // a broken stdin: stop as well
  }
}

absl::StatusOr<ChildProcess> ChildProcess::Start(const Options& options) {
  if (options.fds.size() > kMaxInheritedFds) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.name, ": too many descriptors to hand down"));
  }
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  Fd in_read(in[0]), in_write(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  Fd out_read(out[0]), out_write(out[1]);

  std::vector<char*> argv;
  for (const std::string& arg : options.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    ExecChild(argv, parent, in_read.get(), out_write.get(), options.fds);
  }
  // Also here, so the group exists before anyone signals it (whichever of
  // the two calls runs first wins; the other fails harmlessly).
  ::setpgid(pid, pid);
  ChildProcess child;
  child.name_ = options.name;
  child.pid_ = pid;
  child.input_ = std::move(in_write);
  child.output_ = std::move(out_read);
  child.pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!child.pidfd_) {
    // The destructor kills and reaps the child.
    return absl::ErrnoToStatus(errno, "pidfd_open");
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : name_(std::move(other.name_)),
      pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      input_(std::move(other.input_)),
      output_(std::move(other.output_)),
      buffer_(std::move(other.buffer_)),
      wait_status_(std::exchange(other.wait_status_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    name_ = std::move(other.name_);
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    input_ = std::move(other.input_);
    output_ = std::move(other.output_);
    buffer_ = std::move(other.buffer_);
    wait_status_ = std::exchange(other.wait_status_, std::nullopt);
  }
  return *this;
}

ChildProcess::~ChildProcess() { KillAndReap(); }

void ChildProcess::KillAndReap() {
  if (pid_ < 0 || wait_status_) return;
  ::kill(-pid_, SIGKILL);  // the whole group: the child and what it started
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  wait_status_ = status;  // 0 too if waitpid failed: there is nothing to reap
}

absl::StatusOr<bool> ChildProcess::ReadSome(absl::Time deadline) {
  while (true) {
    if (Interrupted()) return absl::CancelledError("interrupted");
    pollfd p{output_.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (ready < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
    if (ready > 0) {
      char chunk[65536];
      ssize_t n = ::read(output_.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::ErrnoToStatus(errno, "read from child");
      buffer_.append(chunk, static_cast<size_t>(n));
      return n > 0;
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name_, " (pid ", pid_, ") did not answer in time"));
    }
  }
}

absl::Status ChildProcess::ExitedEarly() {
  // It closed stdout, which it does by exiting; say how it ended.
  absl::StatusOr<std::optional<int>> status = WaitFor(absl::Seconds(2));
  std::string how = status.ok() && status->has_value()
                        ? DescribeWaitStatus(**status)
                        : "closed its output";
  return absl::UnavailableError(
      absl::StrCat(name_, " (pid ", pid_, ") ended early: ", how));
}

absl::StatusOr<std::string> ChildProcess::ReadLine(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (size_t end = buffer_.find('\n'); end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      return line;
    }
    absl::StatusOr<bool> more = ReadSome(deadline);
    if (!more.ok()) return more.status();
    if (!*more) return ExitedEarly();
  }
}

absl::StatusOr<std::string> ChildProcess::ReadToEnd(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<bool> more = ReadSome(deadline);
    if (!more.ok()) return more.status();
    if (!*more) return std::exchange(buffer_, std::string());
  }
}

absl::StatusOr<std::optional<int>> ChildProcess::WaitFor(
    absl::Duration timeout) {
  if (wait_status_) return wait_status_;
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (Interrupted()) return absl::CancelledError("interrupted");
    pollfd p{pidfd_.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, PollTimeoutMs(deadline));
    if (ready < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
    if (ready > 0) {
      int status;
      while (::waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) return absl::ErrnoToStatus(errno, "waitpid");
      }
      wait_status_ = status;
      return wait_status_;
    }
    if (absl::Now() >= deadline) return std::nullopt;
  }
}

absl::StatusOr<int> ChildProcess::Stop(absl::Duration grace) {
  input_.reset();
  absl::StatusOr<std::optional<int>> status = WaitFor(grace);
  if (!status.ok()) return status.status();
  if (status->has_value()) return **status;
  return Terminate(grace);
}

absl::StatusOr<int> ChildProcess::Terminate(absl::Duration grace) {
  if (!wait_status_) ::kill(-pid_, SIGTERM);
  absl::StatusOr<std::optional<int>> status = WaitFor(grace);
  if (!status.ok()) return status.status();
  if (status->has_value()) return **status;
  KillAndReap();
  return *wait_status_;
}

}  // namespace switchboard::bench
