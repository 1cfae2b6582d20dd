// SPDX-License-Identifier: MIT
#include "tests/testing/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace switchboard::testing {
namespace {

// Milliseconds left until `deadline`, for poll(); never negative.
int PollTimeoutMs(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
}

// Waits until `fd` is readable or `deadline` passes. Returns false on
// timeout.
absl::StatusOr<bool> PollReadable(int fd, absl::Time deadline) {
  while (true) {
    pollfd entry{fd, POLLIN, 0};
    const int n = ::poll(&entry, 1, PollTimeoutMs(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
  }
}

// In the forked child: reports errno to the parent through `error_fd`.
[[noreturn]] void FailInChild(int error_fd) {
  const int err = errno;
  [[maybe_unused]] ssize_t n = ::write(error_fd, &err, sizeof err);
  ::_exit(127);
}

// Runs in the forked child: only async-signal-safe calls until execv.
[[noreturn]] void ExecChild(char* const* argv, int stdout_fd,
                            const char* stderr_path, int error_fd,
                            pid_t parent) {
  // Die with the test: if the test binary is killed (a ctest timeout), its
  // daemons and helpers must not linger.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) FailInChild(error_fd);
  if (::getppid() != parent) ::_exit(127);
  // Start from default signal handling and an empty mask, as from a shell,
  // whatever the test process (or a library in it) changed.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::signal(sig, SIG_DFL);
  }
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);

  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0) FailInChild(error_fd);
  if (::dup2(stdout_fd, 1) < 0) FailInChild(error_fd);
  if (stderr_path != nullptr) {
    const int err_fd =
        ::open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (err_fd < 0 || ::dup2(err_fd, 2) < 0) FailInChild(error_fd);
  }
  ::execv(argv[0], argv);
  FailInChild(error_fd);
}

}  // namespace

absl::StatusOr<ChildProcess> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& stderr_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  // Everything the child needs is prepared before fork(): after it, a
  // multi-threaded parent's child may not allocate.
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) {
    c_argv.push_back(const_cast<char*>(arg.c_str()));
  }
  c_argv.push_back(nullptr);
  const char* c_stderr_path =
      stderr_path.empty() ? nullptr : stderr_path.c_str();

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  Fd out_read(out_pipe[0]);
  Fd out_write(out_pipe[1]);
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  Fd error_read(error_pipe[0]);
  Fd error_write(error_pipe[1]);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    ExecChild(c_argv.data(), out_write.get(), c_stderr_path, error_write.get(),
              parent);
  }
  out_write.reset();
  error_write.reset();

  // The error pipe closes on a successful exec; otherwise it carries errno.
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    ::waitpid(pid, nullptr, 0);
    return absl::ErrnoToStatus(child_errno, absl::StrCat("start ", argv[0]));
  }

  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return absl::ErrnoToStatus(err, "pidfd_open");
  }
  return ChildProcess(pid, std::move(pidfd), std::move(out_read));
}

ChildProcess::ChildProcess(pid_t pid, Fd pidfd, Fd stdout_fd)
    : pid_(pid), pidfd_(std::move(pidfd)), stdout_(std::move(stdout_fd)) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      stdout_(std::move(other.stdout_)),
      stdout_buffer_(std::move(other.stdout_buffer_)),
      stdout_closed_(other.stdout_closed_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    stdout_ = std::move(other.stdout_);
    stdout_buffer_ = std::move(other.stdout_buffer_);
    stdout_closed_ = other.stdout_closed_;
  }
  return *this;
}

ChildProcess::~ChildProcess() { KillAndReap(); }

void ChildProcess::KillAndReap() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

absl::StatusOr<std::string> ChildProcess::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const size_t newline = stdout_buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, newline);
      stdout_buffer_.erase(0, newline + 1);
      return line;
    }
    if (stdout_closed_) {
      return absl::UnavailableError(
          absl::StrCat("process ", pid_, " closed its stdout (",
                       stdout_buffer_.size(), " bytes without a newline)"));
    }
    absl::StatusOr<bool> readable = PollReadable(stdout_.get(), deadline);
    if (!readable.ok()) return readable.status();
    if (!*readable) {
      return absl::DeadlineExceededError(
          absl::StrCat("no line from process ", pid_, " within ",
                       absl::FormatDuration(timeout)));
    }
    char buffer[4096];
    const ssize_t n = ::read(stdout_.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::ErrnoToStatus(errno, "read child stdout");
    }
    if (n == 0) {
      stdout_closed_ = true;
    } else {
      stdout_buffer_.append(buffer, static_cast<size_t>(n));
    }
  }
}

absl::Status ChildProcess::Signal(int signal) {
  if (pid_ <= 0) return absl::FailedPreconditionError("process already reaped");
  if (::kill(pid_, signal) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("kill ", pid_));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("process already reaped");
  absl::StatusOr<bool> exited =
      PollReadable(pidfd_.get(), absl::Now() + timeout);
  if (!exited.ok()) return exited.status();
  if (!*exited) {
    return absl::DeadlineExceededError(absl::StrCat(
        "process ", pid_, " still runs after ", absl::FormatDuration(timeout)));
  }
  int status = 0;
  pid_t reaped;
  do {
    reaped = ::waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  if (reaped < 0) return absl::ErrnoToStatus(errno, "waitpid");
  const pid_t pid = std::exchange(pid_, -1);
  if (WIFSIGNALED(status)) {
    return absl::AbortedError(
        absl::StrCat("process ", pid, " was killed by signal ",
                     WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")"));
  }
  return WEXITSTATUS(status);
}

absl::StatusOr<int> ChildProcess::Stop(int signal, absl::Duration timeout) {
  if (absl::Status sent = Signal(signal); !sent.ok()) return sent;
  absl::StatusOr<int> code = Wait(timeout);
  if (absl::IsDeadlineExceeded(code.status())) {
    KillAndReap();
    return absl::DeadlineExceededError(absl::StrCat(
        "process did not exit within ", absl::FormatDuration(timeout),
        " of signal ", signal, " (", strsignal(signal), "); killed it"));
  }
  return code;
}

absl::StatusOr<ProgramResult> RunProgram(const std::vector<std::string>& argv,
                                         absl::Duration timeout) {
  char stderr_template[] = "/tmp/sbt-stderr-XXXXXX";
  const int stderr_fd = ::mkstemp(stderr_template);
  if (stderr_fd < 0) return absl::ErrnoToStatus(errno, "mkstemp");
  ::close(stderr_fd);
  const std::string stderr_path = stderr_template;

  ProgramResult result;
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<ChildProcess> child = ChildProcess::Start(argv, stderr_path);
    if (!child.ok()) return child.status();
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      absl::StatusOr<std::string> line =
          child->ReadLine(deadline - absl::Now());
      if (line.ok()) {
        absl::StrAppend(&result.stdout_text, *line, "\n");
        continue;
      }
      if (absl::IsUnavailable(line.status())) break;  // stdout closed
      return line.status();
    }
    absl::StatusOr<int> code = child->Wait(deadline - absl::Now());
    if (code.ok()) {
      result.exit_code = *code;
    } else if (!absl::IsAborted(code.status())) {
      return code.status();
    }
    return absl::OkStatus();
  }();
  absl::StatusOr<std::string> stderr_text = ReadFileToString(stderr_path);
  ::unlink(stderr_path.c_str());
  if (stderr_text.ok()) result.stderr_text = *std::move(stderr_text);
  if (!status.ok()) {
    return absl::Status(
        status.code(),
        absl::StrCat(status.message(), "; stderr:\n", result.stderr_text));
  }
  return result;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::string contents;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) return contents;
    contents.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace switchboard::testing
