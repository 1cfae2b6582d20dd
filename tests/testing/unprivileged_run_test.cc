// SPDX-License-Identifier: MIT
//
// RunAsUser really drops to the user, and ExecutableCopy makes a program
// reachable for a user who cannot open the folder it (or a library it
// loads) lives in, and cleans up after itself. Run as root, like the
// integration tests.
#include "tests/testing/unprivileged_run.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace switchboard::testing {
namespace {

using ::testing::StartsWith;

TEST(UnprivilegedRunTest, TheProgramRunsAsTheUser) {
  absl::StatusOr<CliResult> id =
      RunAsUser(kNobody, {"/usr/bin/id", "-u"}, absl::Seconds(10));
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(id->exit_code, 0) << id->stderr_text;
  EXPECT_EQ(id->stdout_text, absl::StrCat(kNobody.uid, "\n"));
  absl::StatusOr<CliResult> groups =
      RunAsUser(kNobody, {"/usr/bin/id", "-G"}, absl::Seconds(10));
  ASSERT_THAT(groups, IsOk());
  EXPECT_EQ(groups->stdout_text, absl::StrCat(kNobody.gid, "\n"));
}

TEST(UnprivilegedRunTest, AProgramInAClosedFolderIsCopied) {
  char folder[] = "/tmp/sbt-closed-XXXXXX";
  ASSERT_NE(::mkdtemp(folder), nullptr);
  const std::string program = absl::StrCat(folder, "/id");
  std::filesystem::copy_file("/usr/bin/id", program);
  ASSERT_EQ(::chmod(program.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(folder, 0700), 0);
  EXPECT_FALSE(UserMayExecute(program, kNobody));
  std::string copied_folder;
  {
    absl::StatusOr<ExecutableCopy> copy = ExecutableCopy::For(program, kNobody);
    ASSERT_THAT(copy, IsOk());
    EXPECT_NE(copy->path(), program);
    EXPECT_THAT(copy->path(), StartsWith("/tmp/"));
    EXPECT_TRUE(UserMayExecute(copy->path(), kNobody));
    absl::StatusOr<CliResult> id =
        RunAsUser(kNobody, {copy->path(), "-u"}, absl::Seconds(10));
    ASSERT_THAT(id, IsOk());
    EXPECT_EQ(id->stdout_text, absl::StrCat(kNobody.uid, "\n"));
    copied_folder = std::filesystem::path(copy->path()).parent_path();
  }
  EXPECT_FALSE(std::filesystem::exists(copied_folder));
  std::error_code ignored;
  std::filesystem::remove_all(folder, ignored);
}

TEST(UnprivilegedRunTest, LibrariesInAClosedFolderAreCopiedBesideTheProgram) {
  char folder[] = "/tmp/sbt-closed-XXXXXX";
  ASSERT_NE(::mkdtemp(folder), nullptr);
  const std::string library = absl::StrCat(folder, "/libexample.so.0");
  std::filesystem::copy_file("/usr/bin/id", library);
  ASSERT_EQ(::chmod(folder, 0700), 0);
  {
    // The program itself is reachable; its library is not.
    absl::StatusOr<ExecutableCopy> copy =
        ExecutableCopy::For("/usr/bin/printenv", kNobody, {library});
    ASSERT_THAT(copy, IsOk());
    const std::string copied_folder =
        std::filesystem::path(copy->path()).parent_path();
    EXPECT_NE(copy->path(), "/usr/bin/printenv");
    EXPECT_TRUE(UserMayExecute(copied_folder + "/libexample.so.0", kNobody));
    EXPECT_THAT(copy->environment(),
                ::testing::ElementsAre("LD_LIBRARY_PATH=" + copied_folder));
    absl::StatusOr<CliResult> printed =
        RunAsUser(kNobody, {copy->path(), "LD_LIBRARY_PATH"}, absl::Seconds(10),
                  copy->environment());
    ASSERT_THAT(printed, IsOk());
    EXPECT_EQ(printed->stdout_text, copied_folder + "\n");
  }
  std::error_code ignored;
  std::filesystem::remove_all(folder, ignored);
}

TEST(UnprivilegedRunTest, AReachableProgramIsUsedWhereItIs) {
  absl::StatusOr<ExecutableCopy> copy =
      ExecutableCopy::For("/usr/bin/id", kNobody);
  ASSERT_THAT(copy, IsOk());
  EXPECT_EQ(copy->path(), "/usr/bin/id");
  EXPECT_TRUE(copy->environment().empty());
}

}  // namespace
}  // namespace switchboard::testing
