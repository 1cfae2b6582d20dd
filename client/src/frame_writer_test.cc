// SPDX-License-Identifier: MIT
#include "client/src/frame_writer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "client/src/received_fds.h"
#include "gtest/gtest.h"
#include "io/connect.h"

namespace switchboard::client {
namespace {

struct SocketPair {
  Fd writer;
  Fd reader;
};

SocketPair MakePair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  return {Fd(fds[0]), Fd(fds[1])};
}

std::string ReadAll(int fd) {
  std::string out;
  char buffer[65536];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0) {
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

TEST(FrameWriterTest, WritesHeadThenPayloadInOrder) {
  SocketPair pair = MakePair();
  int watch_changes = 0;
  FrameWriter writer(pair.writer.get(), 1 << 20,
                     [&](bool) { ++watch_changes; });
  ASSERT_TRUE(writer.Send("head1", Payload("body1")).ok());
  ASSERT_TRUE(writer.Send("head2", Payload()).ok());
  EXPECT_EQ(ReadAll(pair.reader.get()), "head1body1head2");
  EXPECT_FALSE(writer.has_queued());
  EXPECT_EQ(watch_changes, 0);
}

TEST(FrameWriterTest, QueuesWhatTheSocketCannotTakeAndFlushesLater) {
  SocketPair pair = MakePair();
  bool watching = false;
  FrameWriter writer(pair.writer.get(), 64 << 20,
                     [&](bool on) { watching = on; });
  std::string big(8 << 20, 'b');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i % 251);
  ASSERT_TRUE(writer.Send("H", Payload(big)).ok());
  ASSERT_TRUE(writer.Send("T", Payload("tail")).ok());
  EXPECT_TRUE(writer.has_queued());
  EXPECT_TRUE(watching);
  std::string received;
  while (received.size() < big.size() + 6) {
    received += ReadAll(pair.reader.get());
    ASSERT_TRUE(writer.Flush().ok());
  }
  EXPECT_EQ(received, "H" + big + "Ttail");
  EXPECT_FALSE(watching);
}

TEST(FrameWriterTest, ADeferredFrameWaitsForFlushOrTheNextSend) {
  SocketPair pair = MakePair();
  bool watching = false;
  FrameWriter writer(pair.writer.get(), 1 << 20,
                     [&](bool on) { watching = on; });
  ASSERT_TRUE(writer.Send("A", Payload("1"), /*defer=*/true).ok());
  EXPECT_TRUE(writer.has_queued());
  EXPECT_FALSE(watching);  // nothing was attempted, so nothing to watch for
  EXPECT_EQ(ReadAll(pair.reader.get()), "");
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(ReadAll(pair.reader.get()), "A1");
  EXPECT_FALSE(writer.has_queued());

  ASSERT_TRUE(writer.Send("B", Payload("2"), /*defer=*/true).ok());
  ASSERT_TRUE(writer.Send("C", Payload("3")).ok());  // goes out behind B
  EXPECT_EQ(ReadAll(pair.reader.get()), "B2C3");
}

TEST(FrameWriterTest, RefusesToQueueBeyondItsBound) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 1 << 20, [](bool) {});
  // The first frame is always accepted, even when larger than the bound.
  ASSERT_TRUE(writer.Send("H", Payload(std::string(4 << 20, 'x'))).ok());
  absl::Status status = writer.Send("H", Payload(std::string(1 << 20, 'y')));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
}

TEST(FrameWriterTest, AClosedPeerMakesSendsUnavailable) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 1 << 20, [](bool) {});
  pair.reader.reset();
  absl::Status status = writer.Send("H", Payload("x"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(writer.Send("H", Payload("y")).code(),
            absl::StatusCode::kUnavailable);
}

SharedBuffer Sealed(absl::string_view bytes) {
  absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(bytes.size());
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  std::copy(bytes.begin(), bytes.end(), buffer->mutable_data().begin());
  EXPECT_TRUE(buffer->Seal(SharedBuffer::Sealing::kImmutable).ok());
  return *std::move(buffer);
}

// Reads everything available, collecting the descriptors that come with it.
std::string ReadWithFds(int fd, ReceivedFds& fds) {
  std::string out;
  char buffer[65536];
  while (true) {
    absl::StatusOr<io::Received> got =
        fds.Receive(fd, absl::MakeSpan(buffer), /*block=*/false);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || got->bytes == 0) return out;
    EXPECT_FALSE(got->fds_truncated);
    out.append(buffer, got->bytes);
  }
}

TEST(FrameWriterTest, InlineBuffersFollowThePayload) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 1 << 20, [](bool) {});
  Payload payload("msg", {Sealed("one"), Sealed("two")});
  ASSERT_TRUE(writer.Send("H", payload).ok());
  ReceivedFds fds;
  EXPECT_EQ(ReadWithFds(pair.reader.get(), fds), "Hmsgonetwo");
  EXPECT_TRUE(fds.empty());
}

TEST(FrameWriterTest, BatchedFramesPassEachFrameDescriptorsOnce) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 1 << 20, [](bool) {});
  ASSERT_TRUE(writer
                  .Send("A", Payload("1", {Sealed("a"), Sealed("b")}),
                        /*defer=*/true, FrameWriter::Buffers::kAsFds)
                  .ok());
  ASSERT_TRUE(writer.Send("B", Payload("2"), /*defer=*/true).ok());
  ASSERT_TRUE(writer
                  .Send("C", Payload("3", {Sealed("c")}), /*defer=*/true,
                        FrameWriter::Buffers::kAsFds)
                  .ok());
  ASSERT_TRUE(writer.Flush().ok());
  ReceivedFds fds;
  EXPECT_EQ(ReadWithFds(pair.reader.get(), fds), "A1B2C3");
  ASSERT_EQ(fds.size(), 3u);
  std::vector<Fd> taken = fds.Take(3);
  char byte = 0;
  ASSERT_EQ(::pread(taken[2].get(), &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'c');
}

TEST(FrameWriterTest, AFrameWrittenInPiecesPassesItsDescriptorsOnce) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 64 << 20, [](bool) {});
  std::string big(8 << 20, 'b');
  ASSERT_TRUE(writer
                  .Send("H", Payload(big, {Sealed("x")}), /*defer=*/false,
                        FrameWriter::Buffers::kAsFds)
                  .ok());
  EXPECT_TRUE(writer.has_queued());  // the socket took only part of it
  ReceivedFds fds;
  std::string received;
  while (received.size() < big.size() + 1) {
    received += ReadWithFds(pair.reader.get(), fds);
    ASSERT_TRUE(writer.Flush().ok());
  }
  EXPECT_EQ(received.size(), big.size() + 1);
  EXPECT_EQ(fds.size(), 1u);
}

TEST(FrameWriterTest, ABufferWithoutADescriptorCannotGoAsOne) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 1 << 20, [](bool) {});
  EXPECT_EQ(writer
                .Send("H", Payload("1", {SharedBuffer()}), /*defer=*/false,
                      FrameWriter::Buffers::kAsFds)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(writer.has_queued());
}

TEST(FrameWriterTest, CopiedFramesGoOutInFewWrites) {
  SocketPair pair = MakePair();
  int buffer = 4 << 20;
  ::setsockopt(pair.writer.get(), SOL_SOCKET, SO_SNDBUF, &buffer,
               sizeof buffer);
  FrameWriter writer(pair.writer.get(), 64 << 20, [](bool) {});
  std::string expected;
  constexpr int kFrames = 10000;
  for (int i = 0; i < kFrames; ++i) {
    const std::string head = absl::StrCat("h", i, ":");
    const std::string body = absl::StrCat("message ", i, ";");
    ASSERT_TRUE(writer.SendCopy({head, body}).ok());
    expected += head + body;
  }
  EXPECT_EQ(writer.SendsForTest(), 0u);  // nothing written before the flush
  EXPECT_EQ(writer.queued_bytes(), expected.size());
  std::string got;
  while (writer.has_queued()) {
    ASSERT_TRUE(writer.Flush().ok());
    got += ReadAll(pair.reader.get());
  }
  got += ReadAll(pair.reader.get());
  EXPECT_EQ(got, expected);
  // About 200 KB in 64 KiB blocks: a handful of sendmsg() calls, not 10000.
  EXPECT_LE(writer.SendsForTest(), 16u);
  EXPECT_EQ(writer.queued_bytes(), 0u);
}

TEST(FrameWriterTest, AWrittenBlockIsReusedWithoutItsOldBytes) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 64 << 20, [](bool) {});
  // Rounds of more than a block each: every round after the first fills
  // the block buffer the previous round wrote out.
  for (int round = 0; round < 4; ++round) {
    std::string expected;
    for (int i = 0; i < 1000; ++i) {
      const std::string frame =
          absl::StrCat("r", round, "f", i, ";", std::string(80, 'a' + round));
      ASSERT_TRUE(writer.SendCopy({frame}).ok());
      expected += frame;
    }
    std::string got;
    while (writer.has_queued()) {
      ASSERT_TRUE(writer.Flush().ok());
      got += ReadAll(pair.reader.get());
    }
    got += ReadAll(pair.reader.get());
    ASSERT_EQ(got, expected) << "round " << round;
  }
  ASSERT_TRUE(writer.SendCopy({"last"}).ok());
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(ReadAll(pair.reader.get()), "last");
}

TEST(FrameWriterTest, CopiedFramesKeepTheirOrderWithOtherFrames) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 1 << 20, [](bool) {});
  ASSERT_TRUE(writer.SendCopy({"a", "1"}).ok());
  ASSERT_TRUE(writer.Send("b", Payload("2"), /*defer=*/true).ok());
  ASSERT_TRUE(writer.SendCopy({"c", "3"}).ok());
  ASSERT_TRUE(writer.Send("d", Payload("4")).ok());  // writes everything
  EXPECT_EQ(ReadAll(pair.reader.get()), "a1b2c3d4");
}

TEST(FrameWriterTest, WaitForRoomReturnsOnceAFlushDrainsTheQueue) {
  SocketPair pair = MakePair();
  FrameWriter writer(pair.writer.get(), 64 << 20, [](bool) {});
  const std::string chunk(1000, 'x');
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(writer.SendCopy({chunk}).ok());
  EXPECT_FALSE(writer.WaitForRoom(1000, absl::Now() + absl::Milliseconds(10)));
  std::thread flusher([&] {
    absl::SleepFor(absl::Milliseconds(20));
    writer.Flush().IgnoreError();
  });
  EXPECT_TRUE(writer.WaitForRoom(1000, absl::Now() + absl::Seconds(10)));
  flusher.join();
  ReadAll(pair.reader.get());
}

}  // namespace
}  // namespace switchboard::client
