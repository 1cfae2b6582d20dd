// SPDX-License-Identifier: MIT
#include "client/src/reply_stream.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard {
namespace {

struct Sent {
  std::vector<uint32_t> grants;
  int cancels = 0;
};

std::shared_ptr<ReplyStream::Impl> MakeStream(
    Sent& sent, uint32_t window, absl::Time deadline = absl::InfiniteFuture()) {
  ReplyStream::Impl::Link link;
  link.send_credit = [&sent](uint32_t grant) { sent.grants.push_back(grant); };
  link.send_cancel = [&sent] { ++sent.cancels; };
  return std::make_shared<ReplyStream::Impl>(window, deadline, std::move(link));
}

TEST(ReplyStreamTest, HandsOutMessagesThenTheEndAndGrantsCredit) {
  Sent sent;
  auto stream = MakeStream(sent, 4);
  for (int i = 0; i < 4; ++i) stream->Push(Payload(std::to_string(i)));
  stream->Finish(absl::OkStatus());
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::optional<Payload>> next = stream->Next();
    ASSERT_TRUE(next.ok() && next->has_value());
    EXPECT_EQ((*next)->view(), std::to_string(i));
  }
  // The stream ended: no credit after the end, and the end repeats.
  EXPECT_EQ(sent.grants, std::vector<uint32_t>{});
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::optional<Payload>> next = stream->Next();
    ASSERT_TRUE(next.ok());
    EXPECT_FALSE(next->has_value());
  }
}

TEST(ReplyStreamTest, GrantsAsTheApplicationConsumes) {
  Sent sent;
  auto stream = MakeStream(sent, 4);
  for (int i = 0; i < 4; ++i) stream->Push(Payload("m"));
  ASSERT_TRUE(stream->Next().ok());
  EXPECT_TRUE(sent.grants.empty());
  ASSERT_TRUE(stream->Next().ok());
  EXPECT_EQ(sent.grants, std::vector<uint32_t>{2});
}

TEST(ReplyStreamTest, NextWaitsForAMessageFromAnotherThread) {
  Sent sent;
  auto stream = MakeStream(sent, 2);
  std::thread reader([&] {
    absl::SleepFor(absl::Milliseconds(20));
    stream->Push(Payload("late"));
  });
  absl::StatusOr<std::optional<Payload>> next = stream->Next();
  reader.join();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->view(), "late");
}

TEST(ReplyStreamTest, AnErrorComesAfterTheQueuedMessages) {
  Sent sent;
  auto stream = MakeStream(sent, 2);
  stream->Push(Payload("a"));
  stream->Finish(absl::UnavailableError("callee gone"));
  stream->Finish(absl::OkStatus());  // only the first end counts
  ASSERT_TRUE(stream->Next().ok());
  EXPECT_EQ(stream->Next().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(stream->Next().status().code(), absl::StatusCode::kUnavailable);
}

TEST(ReplyStreamTest, CancelSendsCancelOnceAndDropsWhatWaits) {
  Sent sent;
  auto stream = MakeStream(sent, 2);
  stream->Push(Payload("a"));
  stream->Cancel();
  stream->Cancel();
  stream->Push(Payload("in flight"));
  EXPECT_EQ(sent.cancels, 1);
  EXPECT_EQ(stream->Next().status().code(), absl::StatusCode::kCancelled);
  // The broker's REPLY CANCELLED changes nothing.
  stream->Finish(absl::CancelledError("by the broker"));
  EXPECT_EQ(stream->Next().status().code(), absl::StatusCode::kCancelled);
}

TEST(ReplyStreamTest, AbortEndsAtOnceWithoutTheQueuedMessages) {
  Sent sent;
  auto stream = MakeStream(sent, 2);
  stream->Push(Payload("a"));
  stream->Abort(absl::CancelledError("the client was closed"));
  EXPECT_EQ(stream->Next().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sent.cancels, 0);  // the connection is gone; nothing to send
}

TEST(ReplyStreamTest, NextRefusesToWaitOnTheThreadThatDeliversReplies) {
  ReplyStream::Impl::Link link;
  link.send_credit = [](uint32_t) {};
  link.send_cancel = [] {};
  link.delivers_here = [] { return true; };
  ReplyStream::Impl stream(2, absl::InfiniteFuture(), std::move(link));
  EXPECT_EQ(stream.Next().status().code(),
            absl::StatusCode::kFailedPrecondition);
  // What has arrived is handed out there too.
  stream.Push(Payload("a"));
  EXPECT_TRUE(stream.Next().ok());
}

TEST(ReplyStreamTest, NothingIsSentAfterTheStreamEnded) {
  Sent sent;
  auto stream = MakeStream(sent, 1);
  stream->Finish(absl::OkStatus());
  stream->Cancel();
  EXPECT_EQ(sent.cancels, 0);
}

TEST(ReplyStreamTest, GivesUpLocallyWhenTheBrokerNeverEndsIt) {
  Sent sent;
  auto stream = MakeStream(sent, 1, absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(stream->Next().status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sent.cancels, 1);
}

}  // namespace
}  // namespace switchboard
