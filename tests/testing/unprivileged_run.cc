// SPDX-License-Identifier: MIT
#include "tests/testing/unprivileged_run.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "tests/testing/child_process.h"
#include "tests/testing/wait_for.h"

extern char** environ;

namespace switchboard::testing {
namespace {

// Whether `user` has permission `bit` (S_IXOTH-style: 1 execute, 4 read)
// on a file with status `st`, as owner, group or other.
bool Permits(const struct stat& st, UserIds user, mode_t other_bit) {
  if (st.st_uid == user.uid) return st.st_mode & (other_bit << 6);
  if (st.st_gid == user.gid) return st.st_mode & (other_bit << 3);
  return st.st_mode & other_bit;
}

// In the forked child: reports errno through `error_fd` and exits.
[[noreturn]] void FailInChild(int error_fd) {
  const int err = errno;
  [[maybe_unused]] ssize_t n = ::write(error_fd, &err, sizeof err);
  ::_exit(127);
}

// Runs in the forked child: only async-signal-safe calls until execv.
[[noreturn]] void ExecAsUser(UserIds user, char* const* argv, char* const* envp,
                             int stdin_fd, int stdout_fd, int stderr_fd,
                             int error_fd) {
  if (::dup2(stdin_fd, 0) < 0 || ::dup2(stdout_fd, 1) < 0 ||
      ::dup2(stderr_fd, 2) < 0) {
    FailInChild(error_fd);
  }
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  // Groups first: after setuid() the child may no longer change them.
  if (::setgroups(0, nullptr) != 0 || ::setgid(user.gid) != 0 ||
      ::setuid(user.uid) != 0) {
    FailInChild(error_fd);
  }
  ::execve(argv[0], argv, envp);
  FailInChild(error_fd);
}

absl::StatusOr<Fd> OpenTemp(std::string& path) {
  path = "/tmp/sbt-nobody-XXXXXX";
  Fd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, "mkstemp");
  return fd;
}

}  // namespace

bool UserMayExecute(const std::string& path, UserIds user) {
  std::filesystem::path walked = "/";
  const std::filesystem::path target(path);
  for (const std::filesystem::path& part : target.parent_path()) {
    if (part != "/") walked /= part;
    struct stat st;
    if (::stat(walked.c_str(), &st) != 0 || !Permits(st, user, S_IXOTH)) {
      return false;
    }
  }
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && Permits(st, user, S_IXOTH);
}

absl::StatusOr<ExecutableCopy> ExecutableCopy::For(
    const std::string& path, UserIds user,
    const std::vector<std::string>& libraries) {
  bool reachable = UserMayExecute(path, user);
  for (const std::string& library : libraries) {
    reachable = reachable && UserMayExecute(library, user);
  }
  if (reachable) return ExecutableCopy(path, "");
  char folder_template[] = "/tmp/sbt-exe-XXXXXX";
  if (::mkdtemp(folder_template) == nullptr) {
    return absl::ErrnoToStatus(errno, "mkdtemp");
  }
  const std::string folder = folder_template;
  ExecutableCopy copy(
      absl::StrCat(folder, "/",
                   std::filesystem::path(path).filename().string()),
      folder);
  std::vector<std::pair<std::string, std::string>> copies = {
      {path, copy.path_}};
  for (const std::string& library : libraries) {
    // By the name the loader looks for (a SONAME link's), with the
    // contents of the file it names.
    copies.emplace_back(
        library,
        absl::StrCat(folder, "/",
                     std::filesystem::path(library).filename().string()));
  }
  for (const auto& [from, to] : copies) {
    std::error_code error;
    std::filesystem::copy_file(from, to, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("copy ", from, " to ", to, ": ", error.message()));
    }
    if (::chmod(to.c_str(), 0755) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", to));
    }
  }
  if (::chmod(folder.c_str(), 0755) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", folder));
  }
  return copy;
}

std::vector<std::string> ExecutableCopy::environment() const {
  if (folder_.empty()) return {};
  return {absl::StrCat("LD_LIBRARY_PATH=", folder_)};
}

ExecutableCopy::ExecutableCopy(ExecutableCopy&& other) noexcept
    : path_(std::move(other.path_)),
      folder_(std::exchange(other.folder_, "")) {}

ExecutableCopy::~ExecutableCopy() {
  if (folder_.empty()) return;
  std::error_code ignored;  // a leftover in /tmp is harmless
  std::filesystem::remove_all(folder_, ignored);
}

absl::StatusOr<CliResult> RunAsUser(
    UserIds user, const std::vector<std::string>& argv, absl::Duration timeout,
    const std::vector<std::string>& environment) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) {
    c_argv.push_back(const_cast<char*>(arg.c_str()));
  }
  c_argv.push_back(nullptr);
  // Built before fork(): the child of a threaded process may only make
  // async-signal-safe calls, so it cannot setenv().
  std::vector<char*> c_envp;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    c_envp.push_back(*entry);
  }
  for (const std::string& variable : environment) {
    c_envp.push_back(const_cast<char*>(variable.c_str()));
  }
  c_envp.push_back(nullptr);
  Fd stdin_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!stdin_fd) return absl::ErrnoToStatus(errno, "open /dev/null");
  std::string stdout_path;
  std::string stderr_path;
  absl::StatusOr<Fd> stdout_fd = OpenTemp(stdout_path);
  if (!stdout_fd.ok()) return stdout_fd.status();
  absl::StatusOr<Fd> stderr_fd = OpenTemp(stderr_path);
  if (!stderr_fd.ok()) {
    ::unlink(stdout_path.c_str());
    return stderr_fd.status();
  }
  int error_pipe[2];
  if (::pipe2(error_pipe, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  Fd error_read(error_pipe[0]);
  Fd error_write(error_pipe[1]);

  const pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    ExecAsUser(user, c_argv.data(), c_envp.data(), stdin_fd.get(),
               stdout_fd->get(), stderr_fd->get(), error_write.get());
  }
  error_write.reset();
  absl::StatusOr<CliResult> result = [&]() -> absl::StatusOr<CliResult> {
    // The error pipe closes on a successful exec; otherwise it has errno.
    int child_errno = 0;
    ssize_t n;
    do {
      n = ::read(error_read.get(), &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    int status = 0;
    if (n > 0) {
      ::waitpid(pid, &status, 0);
      return absl::ErrnoToStatus(
          child_errno, absl::StrCat("run ", argv[0], " as uid ", user.uid));
    }
    const bool exited = WaitFor(
        [&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout);
    if (!exited) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return absl::DeadlineExceededError(absl::StrCat(
          argv[0], " still ran after ", absl::FormatDuration(timeout)));
    }
    CliResult out;
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    absl::StatusOr<std::string> stdout_text = ReadFileToString(stdout_path);
    absl::StatusOr<std::string> stderr_text = ReadFileToString(stderr_path);
    if (stdout_text.ok()) out.stdout_text = *std::move(stdout_text);
    if (stderr_text.ok()) out.stderr_text = *std::move(stderr_text);
    return out;
  }();
  ::unlink(stdout_path.c_str());
  ::unlink(stderr_path.c_str());
  return result;
}

}  // namespace switchboard::testing
