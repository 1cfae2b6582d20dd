// SPDX-License-Identifier: MIT
#include "client/src/async_call.h"

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

// Counts how the application's callback was called.
struct Calls {
  int count = 0;
  absl::StatusCode last = absl::StatusCode::kUnknown;

  CallCallback Callback() {
    return [this](absl::StatusOr<Payload> result) {
      ++count;
      last = result.status().code();
    };
  }
};

TEST(AsyncCallTest, TheOutcomeReachesTheCallbackOnce) {
  Calls calls;
  auto call = std::make_shared<AsyncCall>(calls.Callback());
  CallCallback library = AsyncCallCallback{call};
  library(Payload("reply"));
  library(absl::UnavailableError("a second outcome"));
  EXPECT_EQ(calls.count, 1);
  EXPECT_EQ(calls.last, absl::StatusCode::kOk);
  EXPECT_FALSE(call->TakeForCancel().has_value());
  EXPECT_FALSE(call->cancelled());
}

TEST(AsyncCallTest, CancelTakesTheCallbackFromTheOutcome) {
  Calls calls;
  auto call = std::make_shared<AsyncCall>(calls.Callback());
  CallCallback library = AsyncCallCallback{call};
  ASSERT_TRUE(call->Sent(7));
  std::optional<AsyncCall::Cancelled> cancelled = call->TakeForCancel();
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->request_id, 7u);
  EXPECT_TRUE(call->cancelled());
  EXPECT_FALSE(call->TakeForCancel().has_value());
  library(Payload("late reply"));  // finds nothing to call
  EXPECT_EQ(calls.count, 0);
  cancelled->done(absl::CancelledError("cancelled"));
  EXPECT_EQ(calls.count, 1);
  EXPECT_EQ(calls.last, absl::StatusCode::kCancelled);
}

TEST(AsyncCallTest, ACallCancelledBeforeItWasSentHasNoRequestId) {
  Calls calls;
  auto call = std::make_shared<AsyncCall>(calls.Callback());
  std::optional<AsyncCall::Cancelled> cancelled = call->TakeForCancel();
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->request_id, 0u);
  // Whoever sends it afterwards learns that it must take it back.
  EXPECT_FALSE(call->Sent(9));
}

TEST(AsyncCallTest, TheRequestIdFollowsTheLastSend) {
  Calls calls;
  auto call = std::make_shared<AsyncCall>(calls.Callback());
  ASSERT_TRUE(call->Sent(3));
  ASSERT_TRUE(call->Sent(12));  // parked, then sent after a reconnect
  std::optional<AsyncCall::Cancelled> cancelled = call->TakeForCancel();
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->request_id, 12u);
}

TEST(AsyncCallTest, OnlyCallbacksOfClientCallAsyncHaveOne) {
  Calls calls;
  auto call = std::make_shared<AsyncCall>(calls.Callback());
  EXPECT_EQ(AsyncCallOf(AsyncCallCallback{call}), call);
  EXPECT_EQ(AsyncCallOf([](absl::StatusOr<Payload>) {}), nullptr);
  EXPECT_EQ(AsyncCallOf(nullptr), nullptr);
}

TEST(AsyncCallTest, OutcomeAndCancelRacingCallTheCallbackOnce) {
  for (int round = 0; round < 200; ++round) {
    std::atomic<int> count{0};
    auto call = std::make_shared<AsyncCall>(
        [&count](absl::StatusOr<Payload>) { count.fetch_add(1); });
    CallCallback library = AsyncCallCallback{call};
    std::thread outcome([&] { library(Payload("reply")); });
    std::optional<AsyncCall::Cancelled> cancelled = call->TakeForCancel();
    if (cancelled.has_value()) cancelled->done(absl::CancelledError("x"));
    outcome.join();
    ASSERT_EQ(count.load(), 1) << "round " << round;
  }
}

}  // namespace
}  // namespace switchboard::client
