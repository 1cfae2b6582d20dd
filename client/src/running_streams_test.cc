// SPDX-License-Identifier: MIT
#include "client/src/running_streams.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace switchboard::client {
namespace {

std::shared_ptr<StreamWriter::Impl> MakeWriter(uint32_t credit) {
  return std::make_shared<StreamWriter::Impl>(
      credit, absl::InfiniteFuture(), [](Payload) { return absl::OkStatus(); });
}

TEST(RunningStreamsTest, CreditAndCancelReachTheRightStream) {
  RunningStreams streams(4);
  auto a = MakeWriter(0);
  auto b = MakeWriter(0);
  std::atomic<int> results[2] = {-1, -1};
  ASSERT_TRUE(streams
                  .Start(1, a,
                         [&] {
                           results[0] =
                               static_cast<int>(a->Write(Payload("x")).code());
                         })
                  .ok());
  ASSERT_TRUE(streams
                  .Start(2, b,
                         [&] {
                           results[1] =
                               static_cast<int>(b->Write(Payload("x")).code());
                         })
                  .ok());
  EXPECT_TRUE(streams.Grant(1, 1));
  EXPECT_TRUE(streams.Cancel(2, /*from_broker=*/false));
  EXPECT_FALSE(streams.Cancel(99, /*from_broker=*/false));  // unknown
  EXPECT_FALSE(streams.Grant(99, 1));
  while (results[0].load() < 0 || results[1].load() < 0) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  streams.StopAll(absl::UnavailableError("closing"));
  EXPECT_EQ(results[0].load(), static_cast<int>(absl::StatusCode::kOk));
  EXPECT_EQ(results[1].load(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(streams.running(), 0);
}

TEST(RunningStreamsTest, RefusesMoreThanTheLimit) {
  RunningStreams streams(1);
  auto a = MakeWriter(0);
  ASSERT_TRUE(
      streams.Start(1, a, [&] { a->Write(Payload("x")).IgnoreError(); }).ok());
  EXPECT_EQ(streams.Start(2, MakeWriter(0), [] {}).code(),
            absl::StatusCode::kResourceExhausted);
  streams.StopAll(absl::UnavailableError("closing"));
  EXPECT_EQ(streams.Start(3, MakeWriter(0), [] {}).code(),
            absl::StatusCode::kUnavailable);
}

TEST(RunningStreamsTest, StopAllFailsWaitingWritesAndJoins) {
  RunningStreams streams(8);
  std::atomic<int> unavailable{0};
  for (uint64_t id = 1; id <= 5; ++id) {
    auto writer = MakeWriter(0);
    ASSERT_TRUE(streams
                    .Start(id, writer,
                           [writer, &unavailable] {
                             if (writer->Write(Payload("x")).code() ==
                                 absl::StatusCode::kUnavailable) {
                               ++unavailable;
                             }
                           })
                    .ok());
  }
  streams.StopAll(absl::UnavailableError("closing"));
  EXPECT_EQ(unavailable.load(), 5);
}

TEST(RunningStreamsTest, FinishedStreamsFreeTheirSlot) {
  RunningStreams streams(1);
  for (uint64_t id = 1; id <= 3; ++id) {
    std::atomic<bool> done{false};
    ASSERT_TRUE(streams.Start(id, MakeWriter(1), [&] { done = true; }).ok());
    while (streams.running() != 0) absl::SleepFor(absl::Milliseconds(1));
    EXPECT_TRUE(done.load());
  }
  streams.StopAll(absl::UnavailableError("closing"));
}

TEST(RunningStreamsTest, CallIdsOfALostConnectionCanBeReused) {
  RunningStreams streams(4);
  // An old handler that does not return until the test lets it.
  absl::Notification release_old;
  auto old_writer = MakeWriter(0);
  std::atomic<int> old_result{-1};
  ASSERT_TRUE(streams
                  .Start(7, old_writer,
                         [&] {
                           old_result = static_cast<int>(
                               old_writer->Write(Payload("x")).code());
                           release_old.WaitForNotification();
                         })
                  .ok());
  streams.FailAll(absl::UnavailableError("connection lost"));
  // The old call's id means nothing now; a new connection's call 7 starts.
  EXPECT_FALSE(streams.Grant(7, 1));
  auto new_writer = MakeWriter(0);
  std::atomic<int> new_result{-1};
  ASSERT_TRUE(streams
                  .Start(7, new_writer,
                         [&] {
                           new_result = static_cast<int>(
                               new_writer->Write(Payload("y")).code());
                         })
                  .ok());
  EXPECT_EQ(streams.running(), 2);
  // The old handler returns; credit for call 7 still reaches the new one.
  release_old.Notify();
  while (streams.running() != 1) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(old_result.load(),
            static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(streams.Grant(7, 1));
  while (new_result.load() < 0) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(new_result.load(), static_cast<int>(absl::StatusCode::kOk));
  streams.StopAll(absl::UnavailableError("closing"));
}

}  // namespace
}  // namespace switchboard::client
