// SPDX-License-Identifier: MIT
#include "client/src/served_names.h"

#include <optional>

#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

ServeOptions Queue() {
  ServeOptions options;
  options.claim = NameClaim::kQueue;
  return options;
}

TEST(ServedNamesTest, ANameIsFoundFromItsAddUntilItIsRemoved) {
  ServedNames names;
  EXPECT_TRUE(names.empty());
  ASSERT_TRUE(names.Add(Service("test.a"), ServeOptions()).ok());
  ASSERT_NE(names.Find("test.a"), nullptr);
  EXPECT_EQ(names.Find("test.a")->name(), "test.a");
  EXPECT_EQ(names.Find("test.b"), nullptr);

  absl::Status again = names.Add(Service("test.a"), ServeOptions());
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.message(), "this client already serves test.a");

  EXPECT_TRUE(names.Remove("test.a"));
  EXPECT_FALSE(names.Remove("test.a"));
  EXPECT_EQ(names.Find("test.a"), nullptr);
  EXPECT_TRUE(names.empty());
}

TEST(ServedNamesTest, OnlyConfirmedNamesAreClaimedAgainInNameOrder) {
  ServedNames names;
  ASSERT_TRUE(names.Add(Service("test.c"), Queue()).ok());
  ASSERT_TRUE(names.Add(Service("test.a"), ServeOptions()).ok());
  ASSERT_TRUE(names.Add(Service("test.b"), ServeOptions()).ok());
  names.Confirm("test.c", /*queued=*/true);
  names.Confirm("test.a", /*queued=*/false);
  // test.b's claim is still on its way: its own request finishes it.

  std::vector<ServedNames::Claim> claims = names.Confirmed();
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[0].name, "test.a");
  EXPECT_EQ(claims[0].options.claim, NameClaim::kFailIfOwned);
  EXPECT_EQ(claims[1].name, "test.c");
  EXPECT_EQ(claims[1].options.claim, NameClaim::kQueue);
  EXPECT_EQ(claims[1].service->name(), "test.c");
}

TEST(ServedNamesTest, AConfirmationForANameGoneMeanwhileChangesNothing) {
  ServedNames names;
  ASSERT_TRUE(names.Add(Service("test.a"), ServeOptions()).ok());
  EXPECT_TRUE(names.Remove("test.a"));  // lost before the answer came
  names.Confirm("test.a", /*queued=*/false);
  EXPECT_EQ(names.Find("test.a"), nullptr);
  EXPECT_TRUE(names.Confirmed().empty());
}

TEST(ServedNamesTest, ReclaimingReportsOnlyChanges) {
  ServedNames names;
  ASSERT_TRUE(names.Add(Service("test.owned"), ServeOptions()).ok());
  ASSERT_TRUE(names.Add(Service("test.queued"), Queue()).ok());
  ASSERT_TRUE(names.Add(Service("test.taken"), ServeOptions()).ok());
  names.Confirm("test.owned", /*queued=*/false);
  names.Confirm("test.queued", /*queued=*/true);
  names.Confirm("test.taken", /*queued=*/false);

  // Owned before and after: nothing to report.
  EXPECT_EQ(names.Reclaimed("test.owned", /*granted=*/true, /*owner=*/true),
            std::nullopt);
  // Queued before, owner now (the old owner did not come back).
  EXPECT_EQ(names.Reclaimed("test.queued", /*granted=*/true, /*owner=*/true),
            std::optional<bool>(true));
  // Another connection took it during the gap: lost, and forgotten.
  EXPECT_EQ(names.Reclaimed("test.taken", /*granted=*/false, /*owner=*/false),
            std::optional<bool>(false));
  EXPECT_EQ(names.Find("test.taken"), nullptr);
  // Released while the claim was on its way: nothing.
  EXPECT_EQ(names.Reclaimed("test.gone", /*granted=*/true, /*owner=*/true),
            std::nullopt);
}

TEST(ServedNamesTest, AnAcquiredEventBeforeTheAnswerKeepsTheNameOwned) {
  ServedNames names;
  ASSERT_TRUE(names.Add(Service("test.a"), Queue()).ok());
  names.Acquired("test.a");  // the queue moved at once
  names.Confirm("test.a", /*queued=*/true);
  // Owned: a refused claim on a new connection is a loss to report.
  EXPECT_EQ(names.Reclaimed("test.a", /*granted=*/false, /*owner=*/false),
            std::optional<bool>(false));
}

}  // namespace
}  // namespace switchboard::client
