// SPDX-License-Identifier: MIT
#include "io/private_file.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace switchboard::io {
namespace {

class PrivateFileTest : public testing::Test {
 protected:
  PrivateFileTest() {
    char pattern[] = "/tmp/sb-file-test-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  ~PrivateFileTest() override {
    std::string command = absl::StrCat("rm -rf '", dir_, "'");
    EXPECT_EQ(std::system(command.c_str()), 0);
  }
  std::string dir_;
};

TEST_F(PrivateFileTest, CreatedFileIsMode0600AndReadsBack) {
  const std::string path = dir_ + "/token";
  ASSERT_TRUE(CreatePrivateFile(path, "secret").ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  absl::StatusOr<std::string> contents = ReadPrivateFile(path, 100);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(*contents, "secret");
  EXPECT_EQ(CreatePrivateFile(path, "other").code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(PrivateFileTest, FileReadableByOthersIsRefused) {
  const std::string path = dir_ + "/token";
  ASSERT_TRUE(CreatePrivateFile(path, "secret").ok());
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  absl::StatusOr<std::string> contents = ReadPrivateFile(path, 100);
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(contents.status().message(), "0644"))
      << contents.status();
}

TEST_F(PrivateFileTest, MissingFileIsNotFoundAndLongFileIsRefused) {
  EXPECT_EQ(ReadPrivateFile(dir_ + "/none", 100).status().code(),
            absl::StatusCode::kNotFound);
  const std::string path = dir_ + "/long";
  ASSERT_TRUE(CreatePrivateFile(path, std::string(200, 'x')).ok());
  EXPECT_EQ(ReadPrivateFile(path, 100).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PrivateFileTest, DirectoryAndMissingParentsAreCreated0700) {
  const std::string path = dir_ + "/a/b/c";
  ASSERT_TRUE(CreatePrivateDirectory(path).ok());
  for (const std::string& p : {dir_ + "/a", dir_ + "/a/b", path}) {
    struct stat st;
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u) << p;
  }
  EXPECT_TRUE(CreatePrivateDirectory(path).ok());  // existing: fine
  ASSERT_TRUE(CreatePrivateFile(dir_ + "/file", "").ok());
  EXPECT_EQ(CreatePrivateDirectory(dir_ + "/file").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(DirectoryOfTest, SplitsOffTheLastComponent) {
  EXPECT_EQ(DirectoryOf("/run/user/1/switchboard/bus"),
            "/run/user/1/switchboard");
  EXPECT_EQ(DirectoryOf("bus"), ".");
  EXPECT_EQ(DirectoryOf("/bus"), "/");
}

}  // namespace
}  // namespace switchboard::io
