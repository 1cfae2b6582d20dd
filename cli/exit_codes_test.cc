// SPDX-License-Identifier: MIT
#include "exit_codes.h"

#include "gtest/gtest.h"

namespace switchboard::cli {
namespace {

TEST(ExitCodesTest, FollowTheTableOfTheReference) {
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kOk), 0);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kInvalidArgument), 3);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kNotFound), 4);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kUnimplemented), 4);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kDeadlineExceeded), 5);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kPermissionDenied), 6);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kUnauthenticated), 6);
  EXPECT_EQ(ExitCodeFor(absl::StatusCode::kUnavailable), 7);
}

TEST(ExitCodesTest, EveryOtherCodeIsOne) {
  for (absl::StatusCode code :
       {absl::StatusCode::kCancelled, absl::StatusCode::kUnknown,
        absl::StatusCode::kAlreadyExists, absl::StatusCode::kResourceExhausted,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kAborted,
        absl::StatusCode::kOutOfRange, absl::StatusCode::kInternal,
        absl::StatusCode::kDataLoss}) {
    EXPECT_EQ(ExitCodeFor(code), 1) << absl::StatusCodeToString(code);
  }
}

TEST(ExitCodesTest, ErrorLineNamesTheCode) {
  EXPECT_EQ(ErrorLine(absl::NotFoundError("no owner for video.frames")),
            "switchboard: NOT_FOUND: no owner for video.frames");
  EXPECT_EQ(ErrorLine(absl::DeadlineExceededError("late")),
            "switchboard: DEADLINE_EXCEEDED: late");
}

}  // namespace
}  // namespace switchboard::cli
