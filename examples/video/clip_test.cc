// SPDX-License-Identifier: MIT
//
// Tests for the clip's checks and CurrentClip (clip.h).
#include "clip.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::examples::video {
namespace {

using ::testing::HasSubstr;

ClipLoaded GoodClip() {
  ClipLoaded clip;
  clip.set_name("intro");
  clip.set_frame_count(48);
  clip.set_width(640);
  clip.set_height(480);
  clip.set_fps(24);
  return clip;
}

TEST(ClipTest, AGoodClipIsValid) { EXPECT_TRUE(ValidateClip(GoodClip()).ok()); }

TEST(ClipTest, EachBadFieldIsRefusedByName) {
  ClipLoaded clip = GoodClip();
  clip.set_name("");
  EXPECT_THAT(ValidateClip(clip).message(), HasSubstr("clip name"));
  clip = GoodClip();
  clip.set_name("line\nbreak");
  EXPECT_EQ(ValidateClip(clip).code(), absl::StatusCode::kInvalidArgument);
  clip = GoodClip();
  clip.set_name(std::string(kMaxClipNameBytes + 1, 'x'));
  EXPECT_EQ(ValidateClip(clip).code(), absl::StatusCode::kInvalidArgument);
  clip = GoodClip();
  clip.set_width(0);
  EXPECT_THAT(ValidateClip(clip).message(), HasSubstr("width and height"));
  clip = GoodClip();
  clip.set_height(kMaxFrameSide + 1);
  EXPECT_THAT(ValidateClip(clip).message(), HasSubstr("width and height"));
  clip = GoodClip();
  clip.set_frame_count(0);
  EXPECT_THAT(ValidateClip(clip).message(), HasSubstr("frame count"));
  clip = GoodClip();
  clip.set_fps(kMaxFps + 1);
  EXPECT_THAT(ValidateClip(clip).message(), HasSubstr("fps"));
}

TEST(ClipTest, ALoadRequestReplacesOnlyTheFieldsItSets) {
  LoadClipRequest request;
  request.set_name("outro");
  request.set_fps(60);
  absl::StatusOr<ClipLoaded> clip = ApplyLoadRequest(GoodClip(), request);
  ASSERT_TRUE(clip.ok()) << clip.status();
  EXPECT_EQ(clip->name(), "outro");
  EXPECT_EQ(clip->fps(), 60u);
  EXPECT_EQ(clip->frame_count(), 48u);
  EXPECT_EQ(clip->width(), 640u);
  EXPECT_EQ(clip->height(), 480u);
}

TEST(ClipTest, CurrentClipKeepsTheOldClipWhenALoadFails) {
  CurrentClip current(GoodClip());
  LoadClipRequest bad;
  bad.set_name("huge");
  bad.set_width(kMaxFrameSide + 1);
  EXPECT_EQ(current.Load(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(current.Get().name(), "intro");

  LoadClipRequest good;
  good.set_frame_count(5);
  ASSERT_TRUE(current.Load(good).ok());
  EXPECT_EQ(current.Get().frame_count(), 5u);
  EXPECT_EQ(current.Get().name(), "intro");
}

TEST(ClipTest, DescribeClipNamesEveryField) {
  EXPECT_EQ(DescribeClip(GoodClip()),
            "clip intro: 48 frames of 640x480 at 24 fps");
}

}  // namespace
}  // namespace switchboard::examples::video
