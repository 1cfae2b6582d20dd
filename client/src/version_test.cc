// SPDX-License-Identifier: MIT
#include "switchboard/version.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

TEST(VersionTest, MacrosSpellTheVersionString) {
  EXPECT_EQ(
      absl::StrCat(SWITCHBOARD_VERSION_MAJOR, ".", SWITCHBOARD_VERSION_MINOR,
                   ".", SWITCHBOARD_VERSION_PATCH),
      SWITCHBOARD_VERSION_STRING);
}

// This binary links libswitchboard.so, so Version() comes from the library
// it loaded, which was built from the same tree as these headers.
TEST(VersionTest, LibraryReportsTheHeadersVersion) {
  EXPECT_EQ(std::string(Version()), SWITCHBOARD_VERSION_STRING);
}

}  // namespace
}  // namespace switchboard
