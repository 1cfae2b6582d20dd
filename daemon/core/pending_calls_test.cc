// SPDX-License-Identifier: MIT
#include "daemon/core/pending_calls.h"

#include <vector>

#include "gtest/gtest.h"

namespace switchboard::core {
namespace {

const SessionId kCallerSession(1);
const SessionId kCalleeSession(2);
const SessionId kOther(3);
const absl::Time kEpoch = absl::FromUnixSeconds(1000);

std::vector<uint64_t> Ids(const std::vector<PendingCall>& calls) {
  std::vector<uint64_t> ids;
  for (const PendingCall& call : calls) ids.push_back(call.id.value());
  return ids;
}

TEST(PendingCallsTest, BrokerIdsStartAtOneAndAreNeverReused) {
  PendingCalls calls;
  EXPECT_EQ(calls.Track(kCallerSession, RequestId(7), kCalleeSession, kEpoch),
            RequestId(1));
  ASSERT_TRUE(calls.TakeForReply(kCalleeSession, RequestId(1)).has_value());
  EXPECT_EQ(calls.Track(kCallerSession, RequestId(7), kCalleeSession, kEpoch),
            RequestId(2));
}

TEST(PendingCallsTest, ReplyFindsTheCallerAndItsOwnRequestId) {
  PendingCalls calls;
  const RequestId id =
      calls.Track(kCallerSession, RequestId(7), kCalleeSession, kEpoch);
  EXPECT_TRUE(calls.IsPending(kCallerSession, RequestId(7)));
  std::optional<PendingCall> call = calls.TakeForReply(kCalleeSession, id);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->caller, kCallerSession);
  EXPECT_EQ(call->caller_request_id, RequestId(7));
  EXPECT_FALSE(calls.IsPending(kCallerSession, RequestId(7)));
  EXPECT_EQ(calls.size(), 0u);
  // A second reply for the same id is late.
  EXPECT_FALSE(calls.TakeForReply(kCalleeSession, id).has_value());
}

TEST(PendingCallsTest, ReplyFromAnotherSessionLeavesTheCallPending) {
  PendingCalls calls;
  const RequestId id =
      calls.Track(kCallerSession, RequestId(7), kCalleeSession, kEpoch);
  EXPECT_FALSE(calls.TakeForReply(kOther, id).has_value());
  EXPECT_TRUE(calls.IsPending(kCallerSession, RequestId(7)));
  EXPECT_TRUE(calls.TakeForReply(kCalleeSession, id).has_value());
}

TEST(PendingCallsTest, CancelFindsTheCallByTheCallersId) {
  PendingCalls calls;
  const RequestId id =
      calls.Track(kCallerSession, RequestId(7), kCalleeSession, kEpoch);
  EXPECT_FALSE(calls.TakeForCancel(kOther, RequestId(7)).has_value());
  std::optional<PendingCall> call =
      calls.TakeForCancel(kCallerSession, RequestId(7));
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->id, id);
  EXPECT_EQ(call->callee, kCalleeSession);
  EXPECT_EQ(calls.CountForCallee(kCalleeSession), 0u);
}

TEST(PendingCallsTest, CountsCallsPerCallee) {
  PendingCalls calls;
  calls.Track(kCallerSession, RequestId(1), kCalleeSession, kEpoch);
  calls.Track(kCallerSession, RequestId(2), kCalleeSession, kEpoch);
  calls.Track(kCallerSession, RequestId(3), kOther, kEpoch);
  EXPECT_EQ(calls.CountForCallee(kCalleeSession), 2u);
  EXPECT_EQ(calls.CountForCallee(kOther), 1u);
  EXPECT_EQ(calls.CountForCallee(kCallerSession), 0u);
}

TEST(PendingCallsTest, ExpireUntilTakesDueCallsEarliestFirst) {
  PendingCalls calls;
  calls.Track(kCallerSession, RequestId(1), kCalleeSession,
              kEpoch + absl::Seconds(3));
  calls.Track(kCallerSession, RequestId(2), kCalleeSession,
              kEpoch + absl::Seconds(1));
  calls.Track(kCallerSession, RequestId(3), kCalleeSession,
              kEpoch + absl::Seconds(2));
  EXPECT_EQ(calls.NextDeadline(), kEpoch + absl::Seconds(1));
  EXPECT_TRUE(calls.ExpireUntil(kEpoch).empty());
  EXPECT_EQ(Ids(calls.ExpireUntil(kEpoch + absl::Seconds(2))),
            (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(calls.NextDeadline(), kEpoch + absl::Seconds(3));
  EXPECT_EQ(calls.size(), 1u);
}

TEST(PendingCallsTest, AnsweredCallsNoLongerExpireOrSetTheNextDeadline) {
  PendingCalls calls;
  const RequestId early =
      calls.Track(kCallerSession, RequestId(1), kCalleeSession, kEpoch);
  calls.Track(kCallerSession, RequestId(2), kCalleeSession,
              kEpoch + absl::Seconds(5));
  ASSERT_TRUE(calls.TakeForReply(kCalleeSession, early).has_value());
  EXPECT_EQ(calls.NextDeadline(), kEpoch + absl::Seconds(5));
  EXPECT_TRUE(calls.ExpireUntil(kEpoch + absl::Seconds(1)).empty());
}

TEST(PendingCallsTest, DeadlineHeapStaysBoundedUnderSteadyTraffic) {
  PendingCalls calls;
  for (int i = 0; i < 100000; ++i) {
    const RequestId id =
        calls.Track(kCallerSession, RequestId(1), kCalleeSession,
                    kEpoch + absl::Seconds(30));
    ASSERT_TRUE(calls.TakeForReply(kCalleeSession, id).has_value());
  }
  EXPECT_LT(calls.deadline_entries_for_test(), 2100u);
  EXPECT_FALSE(calls.NextDeadline().has_value());
}

TEST(PendingCallsTest, ForgettingASessionReturnsCallsItMadeAndServed) {
  PendingCalls calls;
  calls.Track(kCallerSession, RequestId(1), kCalleeSession,
              kEpoch);  // 1: caller -> callee
  calls.Track(kCalleeSession, RequestId(1), kOther,
              kEpoch);  // 2: callee -> other
  calls.Track(kOther, RequestId(1), kCallerSession,
              kEpoch);  // 3: other -> caller
  calls.Track(kCalleeSession, RequestId(2), kCalleeSession,
              kEpoch);  // 4: callee -> itself
  EXPECT_EQ(Ids(calls.ForgetSession(kCalleeSession)),
            (std::vector<uint64_t>{1, 2, 4}));
  EXPECT_EQ(calls.size(), 1u);
  EXPECT_FALSE(calls.IsPending(kCallerSession, RequestId(1)));
  EXPECT_EQ(calls.CountForCallee(kOther), 0u);
  EXPECT_TRUE(calls.ForgetSession(kCalleeSession).empty());
}

TEST(PendingCallsTest, TakeAllEmptiesTheTable) {
  PendingCalls calls;
  calls.Track(kCallerSession, RequestId(1), kCalleeSession, kEpoch);
  calls.Track(kOther, RequestId(1), kCalleeSession, kEpoch);
  EXPECT_EQ(Ids(calls.TakeAll()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(calls.size(), 0u);
  EXPECT_EQ(calls.CountForCallee(kCalleeSession), 0u);
  EXPECT_FALSE(calls.NextDeadline().has_value());
}

TEST(PendingCallsTest, StreamsKeepTheirCreditAndStayPendingWhenFound) {
  PendingCalls calls;
  const RequestId unary =
      calls.Track(SessionId(1), RequestId(7), SessionId(2), kEpoch);
  const RequestId stream =
      calls.Track(SessionId(1), RequestId(8), SessionId(2), kEpoch, 3u);
  PendingCall* found = calls.FindForReply(SessionId(2), stream);
  ASSERT_NE(found, nullptr);
  EXPECT_TRUE(found->stream);
  EXPECT_EQ(found->credit, 3u);
  found->credit = 2;
  EXPECT_EQ(calls.FindForReply(SessionId(3), stream), nullptr);  // not its
  EXPECT_FALSE(calls.FindForReply(SessionId(2), unary)->stream);
  PendingCall* by_caller = calls.FindForCaller(SessionId(1), RequestId(8));
  ASSERT_NE(by_caller, nullptr);
  EXPECT_EQ(by_caller->id, stream);
  EXPECT_EQ(by_caller->credit, 2u);
  EXPECT_EQ(calls.FindForCaller(SessionId(2), RequestId(8)), nullptr);
  EXPECT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls.TakeForReply(SessionId(2), stream)->credit, 2u);
  EXPECT_EQ(calls.FindForCaller(SessionId(1), RequestId(8)), nullptr);
}

}  // namespace
}  // namespace switchboard::core
