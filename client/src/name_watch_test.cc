// SPDX-License-Identifier: MIT
#include "client/src/name_watch.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A report as "owner<-previous" with "*" for the first report.
std::string Text(const NameOwner& report) {
  return (report.initial ? "*" : "") + std::to_string(report.owner) + "<-" +
         std::to_string(report.previous_owner);
}

v1::NameOwnerChanged Change(const std::string& name, uint64_t old_owner,
                            uint64_t new_owner) {
  v1::NameOwnerChanged change;
  change.set_name(name);
  change.set_old_owner(old_owner);
  change.set_new_owner(new_owner);
  return change;
}

class NameWatchTest : public ::testing::Test {
 protected:
  std::vector<std::string> reports_;
  std::vector<absl::Status> errors_;
  NameWatch watch_{
      "a.b",
      [this](const NameOwner& report) { reports_.push_back(Text(report)); },
      [this](const absl::Status& error) { errors_.push_back(error); }};
};

TEST_F(NameWatchTest, ReportsTheAnswerFirstThenEachChange) {
  watch_.OnAnswer(NameWatch::kFirstQuestion, 7);
  watch_.OnChange(Change("a.b", 7, 0));
  watch_.OnChange(Change("a.b", 0, 8));
  watch_.OnChange(Change("a.b", 8, 9));
  EXPECT_THAT(reports_, ElementsAre("*7<-0", "0<-7", "8<-0", "9<-8"));
  EXPECT_THAT(errors_, IsEmpty());
}

TEST_F(NameWatchTest, AnUnownedNameIsReportedAsOwnerZero) {
  watch_.OnAnswer(NameWatch::kFirstQuestion, 0);
  watch_.OnChange(Change("a.b", 0, 3));
  EXPECT_THAT(reports_, ElementsAre("*0<-0", "3<-0"));
}

TEST_F(NameWatchTest, EventsBeforeTheAnswerAreCountedByIt) {
  // Claimed and released before the broker answered: the answer (no owner)
  // already says how things stand.
  watch_.OnChange(Change("a.b", 0, 5));
  watch_.OnChange(Change("a.b", 5, 0));
  watch_.OnAnswer(NameWatch::kFirstQuestion, 0);
  watch_.OnChange(Change("a.b", 0, 6));
  EXPECT_THAT(reports_, ElementsAre("*0<-0", "6<-0"));
}

TEST_F(NameWatchTest, OtherNamesAreIgnored) {
  watch_.OnAnswer(NameWatch::kFirstQuestion, 0);
  watch_.OnChange(Change("a.c", 0, 5));
  watch_.OnChange(Change("a.b.c", 0, 6));
  EXPECT_THAT(reports_, ElementsAre("*0<-0"));
}

TEST_F(NameWatchTest, AfterDropsOnlyTheLatestAnswerCountsAndOnlyIfNew) {
  watch_.OnAnswer(NameWatch::kFirstQuestion, 4);
  const uint64_t first = watch_.OnDrops();
  watch_.OnChange(Change("a.b", 4, 0));  // counted by the pending answer
  const uint64_t second = watch_.OnDrops();
  EXPECT_NE(first, second);
  watch_.OnAnswer(first, 9);  // superseded
  EXPECT_THAT(reports_, ElementsAre("*4<-0"));
  watch_.OnAnswer(second, 4);  // unchanged since the last report
  EXPECT_THAT(reports_, ElementsAre("*4<-0"));
  const uint64_t third = watch_.OnDrops();
  watch_.OnAnswer(third, 2);
  watch_.OnChange(Change("a.b", 2, 0));
  EXPECT_THAT(reports_, ElementsAre("*4<-0", "2<-4", "0<-2"));
}

TEST_F(NameWatchTest, AFailedQuestionIsToldAndTheNextChangeReports) {
  watch_.OnAnswer(NameWatch::kFirstQuestion,
                  absl::DeadlineExceededError("no answer"));
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0].code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(reports_, IsEmpty());
  watch_.OnChange(Change("a.b", 0, 3));
  EXPECT_THAT(reports_, ElementsAre("*3<-0"));
}

TEST_F(NameWatchTest, ALateAnswerToAnAnsweredQuestionIsIgnored) {
  watch_.OnAnswer(NameWatch::kFirstQuestion, 1);
  watch_.OnAnswer(NameWatch::kFirstQuestion, 2);
  EXPECT_THAT(reports_, ElementsAre("*1<-0"));
}

}  // namespace
}  // namespace switchboard::client
