// SPDX-License-Identifier: MIT
#include "tests/testing/child_process.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

// A child that runs until it is signalled, having said so on stdout.
absl::StatusOr<ChildProcess> StartWaiter() {
  return ChildProcess::Start(
      {"/bin/sh", "-c", "echo waiting; exec tail -f /dev/null"}, "");
}

TEST(ChildProcessTest, ReadsStdoutLineByLineAndCollectsTheExitCode) {
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start({"/bin/sh", "-c", "echo one; echo two; exit 3"}, "");
  ASSERT_THAT(child, IsOk());
  EXPECT_THAT(child->ReadLine(absl::Seconds(10)), IsOkAndHolds("one"));
  EXPECT_THAT(child->ReadLine(absl::Seconds(10)), IsOkAndHolds("two"));
  EXPECT_THAT(child->ReadLine(absl::Seconds(10)),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(child->Wait(absl::Seconds(10)), IsOkAndHolds(3));
  EXPECT_FALSE(child->running());
}

TEST(ChildProcessTest, ReadLineTimesOutWhenNothingIsPrinted) {
  absl::StatusOr<ChildProcess> child = StartWaiter();
  ASSERT_THAT(child, IsOk());
  EXPECT_THAT(child->ReadLine(absl::Seconds(10)), IsOkAndHolds("waiting"));
  EXPECT_THAT(child->ReadLine(absl::Milliseconds(20)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(child->Wait(absl::Milliseconds(20)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(child->running());
}

TEST(ChildProcessTest, StopReportsTheSignalThatEndedTheChild) {
  absl::StatusOr<ChildProcess> child = StartWaiter();
  ASSERT_THAT(child, IsOk());
  ASSERT_THAT(child->ReadLine(absl::Seconds(10)), IsOkAndHolds("waiting"));
  EXPECT_THAT(child->Stop(SIGTERM, absl::Seconds(10)),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("signal 15")));
  EXPECT_THAT(child->Signal(SIGTERM),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ChildProcessTest, DestructorKillsAndReapsARunningChild) {
  pid_t pid;
  {
    absl::StatusOr<ChildProcess> child = StartWaiter();
    ASSERT_THAT(child, IsOk());
    pid = child->pid();
    ASSERT_EQ(::kill(pid, 0), 0);
  }
  // Reaped, not a zombie: the pid no longer exists.
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ChildProcessTest, StartFailsForAMissingProgram) {
  EXPECT_THAT(
      ChildProcess::Start({"/nonexistent/program"}, ""),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/program")));
}

TEST(ChildProcessTest, StderrGoesToTheGivenFile) {
  char path_template[] = "/tmp/sbt-stderr-XXXXXX";
  const int fd = ::mkstemp(path_template);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string path = path_template;
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start({"/bin/sh", "-c", "echo oops >&2"}, path);
  ASSERT_THAT(child, IsOk());
  EXPECT_THAT(child->Wait(absl::Seconds(10)), IsOkAndHolds(0));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds("oops\n"));
  std::filesystem::remove(path);
}

TEST(RunProgramTest, CollectsExitCodeStdoutAndStderr) {
  absl::StatusOr<ProgramResult> result = RunProgram(
      {"/bin/sh", "-c", "echo out; echo err >&2; exit 1"}, absl::Seconds(10));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_EQ(result->stdout_text, "out\n");
  EXPECT_EQ(result->stderr_text, "err\n");
}

TEST(RunProgramTest, KillsAProgramThatOutlivesTheTimeout) {
  EXPECT_THAT(RunProgram({"/bin/sh", "-c", "exec tail -f /dev/null"},
                         absl::Milliseconds(50)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

}  // namespace
}  // namespace switchboard::testing
