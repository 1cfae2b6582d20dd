// SPDX-License-Identifier: MIT
//
// Running a program as another user, for tests (run as root) of what the
// broker refuses to other users: a forked child drops to that user's uid
// and gid, with no supplementary groups, before it execs the program.
//
//   absl::StatusOr<ExecutableCopy> tool = ExecutableCopy::For(path, kNobody);
//   absl::StatusOr<CliResult> refused =
//       RunAsUser(kNobody, {tool->path(), "--address=...", "monitor"}, ...);
#ifndef SWITCHBOARD_TESTS_TESTING_UNPRIVILEGED_RUN_H_
#define SWITCHBOARD_TESTS_TESTING_UNPRIVILEGED_RUN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/cli_process.h"

namespace switchboard::testing {

struct UserIds {
  uid_t uid;
  gid_t gid;
};
// The user and group "nobody"/"nogroup" of Debian.
inline constexpr UserIds kNobody = {65534, 65534};

// Whether `user` (with no supplementary groups) may open every folder on
// the way to `path` and execute it, judged from the permission bits.
bool UserMayExecute(const std::string& path, UserIds user);

// A program `user` may execute: `path` itself when it may, else a copy in
// a fresh 0755 folder under /tmp, removed with this object, together with
// copies of `libraries` (shared libraries the program loads from the build
// tree, whose folders `user` may not reach either). Run the copy with
// environment() so it finds them.
class ExecutableCopy {
 public:
  static absl::StatusOr<ExecutableCopy> For(
      const std::string& path, UserIds user,
      const std::vector<std::string>& libraries = {});
  ExecutableCopy(ExecutableCopy&& other) noexcept;
  ExecutableCopy& operator=(ExecutableCopy&&) = delete;
  ExecutableCopy(const ExecutableCopy&) = delete;
  ~ExecutableCopy();

  const std::string& path() const { return path_; }
  // {"LD_LIBRARY_PATH=FOLDER"} for a copy, so it loads the copied
  // libraries; empty when path() is the original.
  std::vector<std::string> environment() const;

 private:
  ExecutableCopy(std::string path, std::string folder)
      : path_(std::move(path)), folder_(std::move(folder)) {}

  std::string path_;
  std::string folder_;  // empty when path_ is the original
};

// Runs argv[0] (a path) as `user` with an empty stdin and waits for it,
// in this process's environment plus `environment` (NAME=VALUE each).
// Errors: kDeadlineExceeded if it still runs after `timeout` (it is killed
// and reaped), or a failure to start it (the child's errno).
absl::StatusOr<CliResult> RunAsUser(
    UserIds user, const std::vector<std::string>& argv, absl::Duration timeout,
    const std::vector<std::string>& environment = {});

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_UNPRIVILEGED_RUN_H_
