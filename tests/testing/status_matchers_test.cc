// SPDX-License-Identifier: MIT
#include "tests/testing/status_matchers.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Matcher;
using ::testing::Not;

template <typename T, typename M>
std::string Explain(const M& matcher, const T& value) {
  ::testing::StringMatchResultListener listener;
  Matcher<const T&>(matcher).MatchAndExplain(value, &listener);
  return listener.str();
}

TEST(StatusMatchersTest, IsOkMatchesOnlyOkStatuses) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(absl::StatusOr<int>(3), IsOk());
  EXPECT_THAT(absl::InternalError("x"), Not(IsOk()));
  EXPECT_THAT(absl::StatusOr<int>(absl::NotFoundError("x")), Not(IsOk()));
}

TEST(StatusMatchersTest, IsOkExplainsAFailureWithTheStatus) {
  EXPECT_THAT(Explain(IsOk(), absl::Status(absl::NotFoundError("no x"))),
              HasSubstr("NOT_FOUND: no x"));
  EXPECT_THAT(
      Explain(IsOk(), absl::StatusOr<int>(absl::UnavailableError("gone"))),
      HasSubstr("UNAVAILABLE: gone"));
}

TEST(StatusMatchersTest, StatusIsComparesTheCode) {
  EXPECT_THAT(absl::NotFoundError("x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(absl::NotFoundError("x"),
              Not(StatusIs(absl::StatusCode::kInternal)));
  EXPECT_THAT(absl::OkStatus(), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(absl::OkStatus(), Not(StatusIs(absl::StatusCode::kUnknown)));
  EXPECT_THAT(absl::StatusOr<int>(absl::AbortedError("y")),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(absl::StatusOr<int>(1),
              Not(StatusIs(absl::StatusCode::kAborted)));
}

TEST(StatusMatchersTest, StatusIsComparesTheMessage) {
  const absl::Status status = absl::InvalidArgumentError("bad name \"a..b\"");
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a..b")));
  EXPECT_THAT(status, Not(StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("c.d"))));
  EXPECT_THAT(status,
              Not(StatusIs(absl::StatusCode::kNotFound, HasSubstr("a..b"))));
  EXPECT_THAT(Explain(StatusIs(absl::StatusCode::kNotFound), status),
              HasSubstr("INVALID_ARGUMENT: bad name"));
}

TEST(StatusMatchersTest, IsOkAndHoldsComparesTheValue) {
  EXPECT_THAT(absl::StatusOr<int>(7), IsOkAndHolds(7));
  EXPECT_THAT(absl::StatusOr<int>(7), Not(IsOkAndHolds(8)));
  EXPECT_THAT(absl::StatusOr<int>(7), IsOkAndHolds(::testing::Gt(5)));
  EXPECT_THAT(absl::StatusOr<std::string>("hello"), IsOkAndHolds("hello"));
  EXPECT_THAT(absl::StatusOr<std::string>("hello"),
              IsOkAndHolds(HasSubstr("ell")));
  EXPECT_THAT(absl::StatusOr<int>(absl::InternalError("x")),
              Not(IsOkAndHolds(::testing::_)));
}

TEST(StatusMatchersTest, IsOkAndHoldsExplainsWhatItGot) {
  EXPECT_THAT(Explain(IsOkAndHolds(8), absl::StatusOr<int>(7)),
              HasSubstr("which holds 7"));
  EXPECT_THAT(
      Explain(IsOkAndHolds(8), absl::StatusOr<int>(absl::DataLossError("z"))),
      HasSubstr("DATA_LOSS: z"));
}

TEST(StatusMatchersTest, AFailedExpectationNamesTheActualStatus) {
  EXPECT_NONFATAL_FAILURE(EXPECT_THAT(absl::NotFoundError("missing"), IsOk()),
                          "missing");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(absl::StatusOr<int>(absl::CancelledError("gone")),
                  IsOkAndHolds(1)),
      "CANCELLED: gone");
}

}  // namespace
}  // namespace switchboard::testing
