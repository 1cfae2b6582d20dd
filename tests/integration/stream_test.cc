// SPDX-License-Identifier: MIT
//
// Streams through the real broker with the real client library
// (docs/PROTOCOL.md 5.4, switchboard/stream.h): a long stream whose content
// is checked, the window bounding what waits in the caller, cancel, a
// callee killed mid-stream (a child process), a caller that goes away, the
// deadline, errors from the callee, typed streams and streams of
// SharedBuffers. Every suite runs over both transports.
#include "switchboard/stream.h"

#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/status_macros.h"
#include "switchboard/testing/echo.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/topic_frames.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "wire/prefix.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::CallHeader;
using ::switchboard::testing::ChildProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::ConnectRaw;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::RepeatRequest;
using ::switchboard::testing::RepeatResponse;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::TestCalleePath;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::Optional;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr absl::string_view kService = "test.streams";

// Message `i` of a "Count" stream: its number, then a pattern whose length
// varies with i, so lost, repeated or corrupted messages show.
std::string CountMessage(int i) {
  std::string message = absl::StrCat(i, ":");
  for (int j = 0; j < (i * 37) % 3000; ++j) {
    message.push_back(static_cast<char>('a' + (i + j) % 26));
  }
  return message;
}

// Writes CountMessage(0..N-1) for a request "N"; the first failed Write
// ends it.
absl::Status WriteCount(const Payload& request, StreamWriter& writer) {
  int count = 0;
  if (!absl::SimpleAtoi(request.view(), &count)) {
    return absl::InvalidArgumentError("not a count");
  }
  for (int i = 0; i < count; ++i) {
    SB_RETURN_IF_ERROR(writer.Write(Payload(CountMessage(i))));
  }
  return absl::OkStatus();
}

// What a stream handler saw: how many writes succeeded and how it ended.
struct WriterLog {
  absl::Mutex mu;
  int written ABSL_GUARDED_BY(mu) = 0;
  uint32_t credit_after_last ABSL_GUARDED_BY(mu) = 0;
  std::optional<absl::Status> ended ABSL_GUARDED_BY(mu);

  int Written() {
    absl::MutexLock lock(&mu);
    return written;
  }
  std::optional<absl::Status> Ended() {
    absl::MutexLock lock(&mu);
    return ended;
  }
  bool WaitEnded() {
    return WaitFor([this] { return Ended().has_value(); }, kTimeout);
  }
};

// Methods:
//   Count    request "N": writes CountMessage(0..N-1), then OK.
//   Forever  writes CountMessage(0, 1, ...) until Write fails; records in
//            `log` and returns the failure.
//   FailAt   request "N": writes N messages, then returns DATA_LOSS.
//   Repeat   typed: RepeatRequest{text, times} -> `times` RepeatResponses.
//   Buffers  request "N": N messages "i", each with a SharedBuffer of
//            1000 + i bytes filled with i.
Service StreamService(std::shared_ptr<WriterLog> log) {
  Service service{std::string(kService)};
  service.AddStreamMethod("Count",
                          [](const CallInfo&, const Payload& request,
                             StreamWriter& writer) -> absl::Status {
                            return WriteCount(request, writer);
                          });
  service.AddStreamMethod("Forever",
                          [log](const CallInfo&, const Payload&,
                                StreamWriter& writer) -> absl::Status {
                            for (int i = 0;; ++i) {
                              absl::Status s =
                                  writer.Write(Payload(CountMessage(i)));
                              absl::MutexLock lock(&log->mu);
                              if (!s.ok()) {
                                log->ended = s;
                                return s;
                              }
                              ++log->written;
                              log->credit_after_last = writer.credit();
                            }
                          });
  service.AddStreamMethod("FailAt",
                          [](const CallInfo&, const Payload& request,
                             StreamWriter& writer) -> absl::Status {
                            SB_RETURN_IF_ERROR(WriteCount(request, writer));
                            return absl::DataLossError("the tape ran out");
                          });
  service.AddStreamMethod<RepeatRequest, RepeatResponse>(
      "Repeat",
      [](const CallInfo& call, const RepeatRequest& request,
         StreamWriter& writer) -> absl::Status {
        for (int i = 0; i < request.times(); ++i) {
          RepeatResponse response;
          response.set_text(absl::StrCat(request.text(), i));
          response.set_caller(call.caller);
          if (absl::Status s = writer.Write(response); !s.ok()) return s;
        }
        return absl::OkStatus();
      });
  service.AddStreamMethod(
      "Buffers",
      [](const CallInfo&, const Payload& request,
         StreamWriter& writer) -> absl::Status {
        int count = 0;
        if (!absl::SimpleAtoi(request.view(), &count)) {
          return absl::InvalidArgumentError("not a count");
        }
        for (int i = 0; i < count; ++i) {
          absl::StatusOr<SharedBuffer> buffer =
              SharedBuffer::Create(1000 + i, "stream-test");
          if (!buffer.ok()) return buffer.status();
          for (char& c : buffer->mutable_data()) c = static_cast<char>(i);
          if (absl::Status s = buffer->Seal(SharedBuffer::Sealing::kImmutable);
              !s.ok()) {
            return s;
          }
          if (absl::Status s =
                  writer.Write(Payload(absl::StrCat(i), {*std::move(buffer)}));
              !s.ok()) {
            return s;
          }
        }
        return absl::OkStatus();
      });
  return service;
}

StreamOptions Window(uint32_t window) {
  StreamOptions options;
  options.window = window;
  options.timeout = kTimeout;
  return options;
}

class StreamTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    callee_ = ConnectOrDie(broker_, "callee");
    ASSERT_THAT(callee_->Serve(StreamService(log_)), IsOk());
    caller_ = ConnectOrDie(broker_, "caller");
  }

  BrokerProcess broker_{GetParam()};
  std::shared_ptr<WriterLog> log_ = std::make_shared<WriterLog>();
  std::unique_ptr<Client> callee_;
  std::unique_ptr<Client> caller_;
};

TEST_P(StreamTest, LongStreamArrivesWholeAndInOrder) {
  constexpr int kCount = 2000;
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "Count", Payload(absl::StrCat(kCount)));
  ASSERT_THAT(stream, IsOk());
  for (int i = 0; i < kCount; ++i) {
    absl::StatusOr<std::optional<Payload>> next = (*stream)->Next();
    ASSERT_THAT(next, IsOk()) << "message " << i;
    ASSERT_TRUE(next->has_value()) << "ended after " << i << " messages";
    ASSERT_EQ((*next)->view(), CountMessage(i));
  }
  absl::StatusOr<std::optional<Payload>> end = (*stream)->Next();
  ASSERT_THAT(end, IsOk());
  EXPECT_FALSE(end->has_value());
  // And it keeps saying so.
  end = (*stream)->Next();
  ASSERT_THAT(end, IsOk());
  EXPECT_FALSE(end->has_value());
}

TEST_P(StreamTest, WindowBoundsWhatWaitsInTheCaller) {
  constexpr uint32_t kWindow = 4;
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "Forever", Payload(), Window(kWindow));
  ASSERT_THAT(stream, IsOk());
  ASSERT_TRUE(
      WaitFor([&] { return log_->Written() >= int{kWindow}; }, kTimeout));
  int taken = 0;
  for (int round = 0; round < 3 * static_cast<int>(kWindow); ++round) {
    // Round trips through the broker from both sides: any write the credit
    // did not allow would have gone through by now.
    ASSERT_THAT(callee_->Ping(), IsOk());
    ASSERT_THAT(caller_->Ping(), IsOk());
    ASSERT_THAT(callee_->Ping(), IsOk());
    EXPECT_LE(log_->Written() - taken, static_cast<int>(kWindow))
        << "after taking " << taken;
    absl::StatusOr<std::optional<Payload>> next = (*stream)->Next();
    ASSERT_THAT(next, IsOk());
    ASSERT_TRUE(next->has_value());
    EXPECT_EQ((*next)->view(), CountMessage(taken));
    ++taken;
  }
  {
    absl::MutexLock lock(&log_->mu);
    EXPECT_LE(log_->credit_after_last, kWindow);
  }
  (*stream)->Cancel();
  ASSERT_TRUE(log_->WaitEnded());
}

TEST_P(StreamTest, CancelStopsTheCalleeAndTheCaller) {
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "Forever", Payload(), Window(8));
  ASSERT_THAT(stream, IsOk());
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT((*stream)->Next(), IsOkAndHolds(Optional(CountMessage(i))));
  }
  (*stream)->Cancel();
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kCancelled));
  (*stream)->Cancel();  // idempotent
  ASSERT_TRUE(log_->WaitEnded());
  EXPECT_THAT(*log_->Ended(), StatusIs(absl::StatusCode::kCancelled));
  // The callee serves the next stream as usual.
  absl::StatusOr<std::unique_ptr<ReplyStream>> again =
      caller_->CallStream(kService, "Count", Payload("2"));
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT((*again)->Next(), IsOkAndHolds(Optional(CountMessage(0))));
  EXPECT_THAT((*again)->Next(), IsOkAndHolds(Optional(CountMessage(1))));
  EXPECT_THAT((*again)->Next(), IsOkAndHolds(::testing::Eq(std::nullopt)));
}

TEST_P(StreamTest, DestroyingTheStreamCancelsTheCallee) {
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "Forever", Payload(), Window(2));
  ASSERT_THAT(stream, IsOk());
  EXPECT_THAT((*stream)->Next(), IsOkAndHolds(Optional(CountMessage(0))));
  stream->reset();
  ASSERT_TRUE(log_->WaitEnded());
  EXPECT_THAT(*log_->Ended(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_P(StreamTest, CallerGoneMidStreamFailsTheCalleesWrite) {
  // A raw caller stands for a process that was killed: its socket just
  // closes.
  absl::StatusOr<std::string> token = broker_.ReadToken();
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<RawConnection> raw = ConnectRaw(broker_.address(), *token);
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->SendFrame(wire::Kind::kCall, 3,
                             CallHeader(kService, "Forever", kTimeout, 2)),
              IsOk());
  ASSERT_TRUE(WaitFor([&] { return log_->Written() >= 2; }, kTimeout));
  raw->Close();
  ASSERT_TRUE(log_->WaitEnded());
  EXPECT_THAT(*log_->Ended(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_P(StreamTest, CallerClientClosedMidStreamFailsTheCalleesWrite) {
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "Forever", Payload(), Window(2));
  ASSERT_THAT(stream, IsOk());
  EXPECT_THAT((*stream)->Next(), IsOkAndHolds(Optional(CountMessage(0))));
  caller_.reset();
  ASSERT_TRUE(log_->WaitEnded());
  EXPECT_THAT(*log_->Ended(), StatusIs(absl::StatusCode::kCancelled));
  // The stream outlived its client: it ends at once, it does not hang.
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_P(StreamTest, DeadlineEndsTheStreamOnBothSides) {
  StreamOptions options = Window(2);
  // Long enough for the call to reach the handler on a loaded machine.
  options.timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "Forever", Payload(), options);
  ASSERT_THAT(stream, IsOk());
  // Take nothing: the callee waits for credit until the deadline.
  ASSERT_TRUE(log_->WaitEnded());
  EXPECT_THAT(*log_->Ended(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  absl::StatusOr<std::optional<Payload>> next;
  int taken = 0;
  do {
    next = (*stream)->Next();
    ++taken;
  } while (next.ok() && next->has_value() && taken < 100);
  EXPECT_THAT(next, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LE(taken, 3);  // at most the window's worth came first
}

TEST_P(StreamTest, CalleeErrorArrivesAfterItsMessages) {
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "FailAt", Payload("3"));
  ASSERT_THAT(stream, IsOk());
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT((*stream)->Next(), IsOkAndHolds(Optional(CountMessage(i))));
  }
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kDataLoss,
                                          ::testing::HasSubstr("tape")));
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_P(StreamTest, PlainCallToAStreamMethodIsFailedPrecondition) {
  EXPECT_THAT(caller_->Call(kService, "Count", Payload("3"), kTimeout),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_P(StreamTest, StreamToNobodyIsNotFound) {
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream("nobody.here", "Count", Payload("1"));
  ASSERT_THAT(stream, IsOk());
  EXPECT_THAT((*stream)->Next(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(StreamTest, MalformedNamesAndWindowZeroAreRefused) {
  EXPECT_THAT(caller_->CallStream("bad..name", "Count", Payload("1")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(caller_->CallStream(kService, "bad method", Payload("1")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(caller_->CallStream(kService, "Count", Payload("1"), Window(0)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(StreamTest, TypedStreamParsesEachMessage) {
  RepeatRequest request;
  request.set_text("frame");
  request.set_times(5);
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "Repeat", request);
  ASSERT_THAT(stream, IsOk());
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<std::optional<RepeatResponse>> next =
        (*stream)->Next<RepeatResponse>();
    ASSERT_THAT(next, IsOk());
    ASSERT_TRUE(next->has_value());
    EXPECT_EQ((*next)->text(), absl::StrCat("frame", i));
    EXPECT_EQ((*next)->caller(), caller_->connection_id());
  }
  absl::StatusOr<std::optional<RepeatResponse>> end =
      (*stream)->Next<RepeatResponse>();
  ASSERT_THAT(end, IsOk());
  EXPECT_FALSE(end->has_value());
}

TEST_P(StreamTest, StreamMessagesCarrySharedBuffers) {
  constexpr int kCount = 20;
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream = caller_->CallStream(
      kService, "Buffers", Payload(absl::StrCat(kCount)), Window(4));
  ASSERT_THAT(stream, IsOk());
  for (int i = 0; i < kCount; ++i) {
    absl::StatusOr<std::optional<Payload>> next = (*stream)->Next();
    ASSERT_THAT(next, IsOk());
    ASSERT_TRUE(next->has_value());
    EXPECT_EQ((*next)->view(), absl::StrCat(i));
    ASSERT_EQ((*next)->buffers().size(), 1u);
    const SharedBuffer& buffer = (*next)->buffers()[0];
    ASSERT_EQ(buffer.size(), static_cast<size_t>(1000 + i));
    EXPECT_EQ(buffer.data(), std::string(1000 + i, static_cast<char>(i)));
    if (GetParam() == Transport::kUnix) {
      EXPECT_GE(buffer.fd(), 0) << "a Unix caller takes descriptors";
    } else {
      EXPECT_EQ(buffer.fd(), -1) << "TCP carries buffers inline";
    }
  }
  EXPECT_THAT((*stream)->Next(), IsOkAndHolds(::testing::Eq(std::nullopt)));
}

TEST_P(StreamTest, BrokerShutdownEndsTheStreamWithUnavailable) {
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream(kService, "Forever", Payload(), Window(2));
  ASSERT_THAT(stream, IsOk());
  EXPECT_THAT((*stream)->Next(), IsOkAndHolds(Optional(CountMessage(0))));
  ASSERT_THAT(broker_.Stop(SIGTERM, kTimeout), IsOkAndHolds(0));
  absl::StatusOr<std::optional<Payload>> next;
  int taken = 1;
  do {
    next = (*stream)->Next();
    ++taken;
  } while (next.ok() && next->has_value() && taken < 100);
  EXPECT_THAT(next, StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_TRUE(log_->WaitEnded());
  EXPECT_THAT(*log_->Ended(), StatusIs(absl::StatusCode::kUnavailable));
}

// The callee is a child process killed with SIGKILL mid-stream.
TEST_P(StreamTest, CalleeKilledMidStreamIsUnavailable) {
  std::vector<std::string> argv = {TestCalleePath(),
                                   "--address=" + broker_.address(),
                                   "--service=test.killed"};
  if (GetParam() == Transport::kTcp) {
    argv.push_back("--token-file=" + broker_.token_file());
  }
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start(argv, broker_.dir() + "/callee.stderr");
  ASSERT_THAT(child, IsOk());
  ASSERT_THAT(child->ReadLine(kTimeout), IsOkAndHolds("ready"));
  absl::StatusOr<std::unique_ptr<ReplyStream>> stream =
      caller_->CallStream("test.killed", "Stream", Payload(), Window(4));
  ASSERT_THAT(stream, IsOk());
  EXPECT_THAT((*stream)->Next(), IsOkAndHolds(Optional(Payload("0"))));
  EXPECT_THAT(
      child->ReadLine(kTimeout),
      IsOkAndHolds(absl::StrCat("streaming ", caller_->connection_id())));
  ASSERT_THAT(child->Stop(SIGKILL, kTimeout),
              StatusIs(absl::StatusCode::kAborted));
  absl::StatusOr<std::optional<Payload>> next;
  int taken = 1;
  do {
    next = (*stream)->Next();
    if (next.ok() && next->has_value()) {
      EXPECT_EQ((*next)->view(), absl::StrCat(taken));
    }
    ++taken;
  } while (next.ok() && next->has_value() && taken < 100);
  EXPECT_THAT(next, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_LE(taken, 1 + 4 + 1);  // at most the window's worth after "0"
}

INSTANTIATE_TEST_SUITE_P(AllTransports, StreamTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
