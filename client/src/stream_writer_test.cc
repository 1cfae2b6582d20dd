// SPDX-License-Identifier: MIT
#include "client/src/stream_writer.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard {
namespace {

struct Fixture {
  std::vector<std::string> sent;
  absl::Mutex mu;
  std::shared_ptr<StreamWriter::Impl> Make(
      uint32_t credit, absl::Time deadline = absl::InfiniteFuture()) {
    return std::make_shared<StreamWriter::Impl>(
        credit, deadline, [this](Payload message) {
          absl::MutexLock lock(&mu);
          sent.emplace_back(message.view());
          return absl::OkStatus();
        });
  }
  size_t count() {
    absl::MutexLock lock(&mu);
    return sent.size();
  }
};

TEST(StreamWriterTest, UsesOneCreditPerMessage) {
  Fixture f;
  auto writer = f.Make(2);
  EXPECT_TRUE(writer->Write(Payload("a")).ok());
  EXPECT_EQ(writer->credit(), 1u);
  EXPECT_TRUE(writer->Write(Payload("b")).ok());
  EXPECT_EQ(writer->credit(), 0u);
  EXPECT_EQ(f.sent, (std::vector<std::string>{"a", "b"}));
}

TEST(StreamWriterTest, WaitsForCreditThenSends) {
  Fixture f;
  auto writer = f.Make(0);
  std::atomic<bool> written{false};
  std::thread handler([&] {
    EXPECT_TRUE(writer->Write(Payload("x")).ok());
    written = true;
  });
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_FALSE(written.load());
  EXPECT_EQ(f.count(), 0u);
  writer->Grant(1);
  handler.join();
  EXPECT_TRUE(written.load());
  EXPECT_EQ(f.count(), 1u);
}

TEST(StreamWriterTest, CancelWakesAWaitingWriteWithCancelled) {
  Fixture f;
  auto writer = f.Make(0);
  std::thread handler([&] {
    EXPECT_EQ(writer->Write(Payload("x")).code(), absl::StatusCode::kCancelled);
  });
  absl::SleepFor(absl::Milliseconds(10));
  writer->Cancel(/*from_broker=*/false);
  handler.join();
  EXPECT_TRUE(writer->cancelled());
  writer->Grant(5);
  EXPECT_EQ(writer->Write(Payload("y")).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(f.count(), 0u);
}

TEST(StreamWriterTest, CancelAfterTheDeadlineIsDeadlineExceeded) {
  Fixture f;
  auto writer = f.Make(1, absl::Now() - absl::Seconds(1));
  writer->Cancel(/*from_broker=*/true);
  EXPECT_EQ(writer->Write(Payload("x")).code(),
            absl::StatusCode::kDeadlineExceeded);
  // The broker's CANCEL a little before our estimate of the deadline is the
  // deadline too; a caller's CANCEL then is not.
  auto early = f.Make(1, absl::Now() + absl::Milliseconds(100));
  early->Cancel(/*from_broker=*/true);
  EXPECT_EQ(early->Write(Payload("x")).code(),
            absl::StatusCode::kDeadlineExceeded);
  auto by_caller = f.Make(1, absl::Now() + absl::Milliseconds(100));
  by_caller->Cancel(/*from_broker=*/false);
  EXPECT_EQ(by_caller->Write(Payload("x")).code(),
            absl::StatusCode::kCancelled);
}

TEST(StreamWriterTest, ALostConnectionFailsWithUnavailable) {
  Fixture f;
  auto writer = f.Make(0);
  std::thread handler([&] {
    EXPECT_EQ(writer->Write(Payload("x")).code(),
              absl::StatusCode::kUnavailable);
  });
  writer->Fail(absl::UnavailableError("gone"));
  handler.join();
  EXPECT_FALSE(writer->cancelled());
}

TEST(StreamWriterTest, AMessageThatCannotBeSentKeepsItsCredit) {
  auto writer = std::make_shared<StreamWriter::Impl>(
      1, absl::InfiniteFuture(),
      [](Payload) { return absl::ResourceExhaustedError("too large"); });
  EXPECT_EQ(writer->Write(Payload("big")).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(writer->credit(), 1u);
  EXPECT_FALSE(writer->cancelled());
}

TEST(StreamWriterTest, CreditSaturates) {
  Fixture f;
  auto writer = f.Make(UINT32_MAX - 1);
  writer->Grant(10);
  EXPECT_EQ(writer->credit(), UINT32_MAX);
}

}  // namespace
}  // namespace switchboard
