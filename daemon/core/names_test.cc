// SPDX-License-Identifier: MIT
#include "daemon/core/names.h"

#include <string>

#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

TEST(NamesTest, WellFormedServiceNamesAreAccepted) {
  for (const char* name : {"video", "video.frames", "a.b-c.d_e", "X1.y2.Z3",
                           "switchboard", "switchboard.admin"}) {
    EXPECT_TRUE(ValidateServiceName(name).ok()) << name;
  }
  EXPECT_TRUE(ValidateServiceName(std::string(255, 'a')).ok());
}

TEST(NamesTest, MalformedServiceNamesAreInvalidArgument) {
  for (const char* name : {"", ".video", "video.", "video..frames", "vi deo",
                           "video/frames", "vidéo", "a.*", "a.>"}) {
    EXPECT_EQ(ValidateServiceName(name).code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
  EXPECT_EQ(ValidateServiceName(std::string(256, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NamesTest, ReservedPrefixCannotBeClaimed) {
  EXPECT_EQ(ValidateClaimableName("switchboard.admin").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      ValidateClaimableName("switchboard.admin").message().find("reserved"),
      absl::string_view::npos);
  EXPECT_TRUE(ValidateClaimableName("switchboard").ok());
  EXPECT_TRUE(ValidateClaimableName("switchboardx.admin").ok());
}

TEST(NamesTest, MethodNamesAllowDotsButNothingElse) {
  EXPECT_TRUE(ValidateMethodName("GetFrame").ok());
  EXPECT_TRUE(ValidateMethodName("v1.Get-Frame_2").ok());
  EXPECT_EQ(ValidateMethodName("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateMethodName("Get Frame").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateMethodName(std::string(256, 'm')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NamesTest, ErrorMessagesShortenVeryLongNames) {
  const std::string name(255, 'a');
  absl::Status status = ValidateServiceName(name + "!");
  EXPECT_LT(status.message().size(), 200u);
}

}  // namespace
}  // namespace switchboard::core
