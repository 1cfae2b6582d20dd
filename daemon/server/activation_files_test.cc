// SPDX-License-Identifier: MIT
#include "daemon/server/activation_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPath[] = "/share/switchboard/services/video.frames.activation";

std::string ErrorOf(absl::string_view path, absl::string_view text) {
  absl::StatusOr<core::ActivatableService> parsed =
      ParseActivationFile(path, text);
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(ActivationFilesTest, ACommandFileParses) {
  absl::StatusOr<core::ActivatableService> parsed = ParseActivationFile(
      kPath,
      "name: \"video.frames\"\n"
      "command { argv: \"/usr/bin/video-server\" argv: \"--quiet\" }\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->name, "video.frames");
  EXPECT_THAT(parsed->command, ElementsAre("/usr/bin/video-server", "--quiet"));
  EXPECT_EQ(parsed->systemd_unit, "");
  EXPECT_EQ(parsed->file, kPath);
}

TEST(ActivationFilesTest, AUnitFileParses) {
  absl::StatusOr<core::ActivatableService> parsed = ParseActivationFile(
      kPath, "name: \"video.frames\"\nsystemd_unit: \"video.service\"\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->systemd_unit, "video.service");
  EXPECT_TRUE(parsed->command.empty());
}

TEST(ActivationFilesTest, ErrorsNameTheFileAndLine) {
  EXPECT_THAT(ErrorOf(kPath, "name: \"video.frames\"\ncommand { argv: 3 ]\n"),
              HasSubstr(absl::StrCat(kPath, ":2:")));
  EXPECT_THAT(ErrorOf(kPath, "name: \"video.frames\"\nprogram: \"x\"\n"),
              HasSubstr(absl::StrCat(kPath, ":2:")));
  EXPECT_THAT(ErrorOf(kPath,
                      "name: \"video.frames\"\ncommand { argv: \"/bin/x\" }\n"
                      "systemd_unit: \"x.service\"\n"),
              HasSubstr(absl::StrCat(kPath, ":3:")));
  EXPECT_EQ(ErrorOf(kPath, "\n\nname: \"video.other\"\nsystemd_unit: \"x\"\n"),
            absl::StrCat(kPath,
                         ":3: the name 'video.other' does not match the "
                         "file's name: it must be video.other.activation"));
  EXPECT_THAT(ErrorOf(kPath, "name: \"video..frames\"\nsystemd_unit: \"x\"\n"),
              HasSubstr(absl::StrCat(kPath, ":1: name 'video..frames': ")));
  EXPECT_THAT(ErrorOf(kPath, "name: \"switchboard.x\"\nsystemd_unit: \"x\"\n"),
              HasSubstr(absl::StrCat(kPath, ":1: name 'switchboard.x': ")));
}

TEST(ActivationFilesTest, MissingPartsAreErrors) {
  EXPECT_EQ(ErrorOf(kPath, "command { argv: \"/bin/x\" }\n"),
            absl::StrCat(kPath, ": no name (name: \"NAME\")"));
  EXPECT_THAT(ErrorOf(kPath, "name: \"video.frames\"\n"),
              HasSubstr("says neither what to run"));
  EXPECT_EQ(ErrorOf(kPath, "name: \"video.frames\"\ncommand {}\n"),
            absl::StrCat(kPath,
                         ":2: the command needs argv, starting with "
                         "the program"));
  EXPECT_THAT(ErrorOf(kPath, "name: \"video.frames\"\nsystemd_unit: \"a b\"\n"),
              HasSubstr("is not a systemd unit name"));
}

class ActivationDirsTest : public ::testing::Test {
 protected:
  ActivationDirsTest() {
    char pattern[] = "/tmp/sb-activation-XXXXXX";
    root_ = ::mkdtemp(pattern);
  }
  ~ActivationDirsTest() override {
    std::system(absl::StrCat("rm -rf '", root_, "'").c_str());
  }
  std::string Dir(absl::string_view name) {
    const std::string dir = absl::StrCat(root_, "/", name);
    ::mkdir(dir.c_str(), 0700);
    return dir;
  }
  static void Write(const std::string& path, absl::string_view text) {
    std::ofstream(path) << text;
  }
  std::string root_;
};

TEST_F(ActivationDirsTest, TheFirstFolderWinsAndBadFilesAreSkipped) {
  const std::string user = Dir("user");
  const std::string system = Dir("system");
  Write(user + "/a.b.activation",
        "name: \"a.b\"\nsystemd_unit: \"user.service\"\n");
  Write(system + "/a.b.activation",
        "name: \"a.b\"\nsystemd_unit: \"sys.service\"\n");
  Write(system + "/c.d.activation",
        "name: \"c.d\"\ncommand { argv: \"/bin/c\" }\n");
  Write(system + "/bad.activation", "name: \"bad\"\ncommand { argv: 3 }\n");
  Write(system + "/README", "not an activation file");
  LoadedActivations loaded =
      LoadActivationFiles({user, system, absl::StrCat(root_, "/missing")});
  ASSERT_EQ(loaded.services.size(), 2u);
  EXPECT_EQ(loaded.services[0].name, "a.b");
  EXPECT_EQ(loaded.services[0].systemd_unit, "user.service");
  EXPECT_EQ(loaded.services[1].name, "c.d");
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_THAT(loaded.errors[0],
              HasSubstr(absl::StrCat(system, "/bad.activation:2:")));
  EXPECT_THAT(loaded.overridden, ElementsAre(system + "/a.b.activation"));
}

TEST(ActivationFilesTest, TheSearchPathFollowsXdg) {
  ::setenv("XDG_DATA_HOME", "/home/u/data", 1);
  ::setenv("XDG_DATA_DIRS", "/opt/share:/usr/share", 1);
  EXPECT_THAT(DefaultActivationDirs(),
              ElementsAre("/home/u/data/switchboard/services",
                          "/opt/share/switchboard/services",
                          "/usr/share/switchboard/services"));
  ::unsetenv("XDG_DATA_HOME");
  ::unsetenv("XDG_DATA_DIRS");
  ::setenv("HOME", "/home/u", 1);
  EXPECT_THAT(DefaultActivationDirs(),
              ElementsAre("/home/u/.local/share/switchboard/services",
                          "/usr/local/share/switchboard/services",
                          "/usr/share/switchboard/services"));
}

TEST(ActivationFilesTest, ChangesAreDescribed) {
  core::ActivatableService a{"a.b", {"/bin/a"}, "", "/f/a.b.activation"};
  core::ActivatableService c{"c.d", {"/bin/c"}, "", "/f/c.d.activation"};
  core::ActivatableService c2{"c.d", {"/bin/c2"}, "", "/f/c.d.activation"};
  core::ActivatableService e{"e.f", {}, "e.service", "/f/e.f.activation"};
  std::map<std::string, core::ActivatableService, std::less<>> before{
      {"a.b", a}, {"c.d", c}};
  EXPECT_THAT(DescribeActivationChanges(before, {c2, e}),
              ElementsAre("changed c.d: /bin/c2 (from /f/c.d.activation)",
                          "added e.f (unit e.service, from /f/e.f.activation)",
                          "removed a.b"));
}

}  // namespace
}  // namespace switchboard::server
