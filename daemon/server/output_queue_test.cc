// SPDX-License-Identifier: MIT
#include "daemon/server/output_queue.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/server/ring.h"
#include "gtest/gtest.h"
#include "io/fd_passing.h"

namespace switchboard::server {
namespace {

struct Received {
  wire::Prefix prefix;
  std::string header;
  std::string payload;
};

// Both ends of a non-blocking Unix stream socket pair: the queue writes to
// one, the test reads frames and descriptors from the other.
class SocketPair {
 public:
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           0, fds),
              0);
    writer_ = Fd(fds[0]);
    reader_ = Fd(fds[1]);
  }

  int writer() const { return writer_.get(); }

  // Reads everything the socket holds now; returns the frames completed.
  std::vector<Received> Drain() {
    char chunk[64 * 1024];
    while (true) {
      absl::StatusOr<io::Received> got =
          io::RecvWithFds(reader_.get(), absl::MakeSpan(chunk), fds_);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok() || got->bytes == 0) break;
      EXPECT_FALSE(got->fds_truncated);
      buffer_.append(chunk, got->bytes);
    }
    std::vector<Received> frames;
    while (buffer_.size() >= wire::kPrefixBytes) {
      absl::StatusOr<wire::Prefix> prefix = wire::DecodePrefix(buffer_);
      EXPECT_TRUE(prefix.ok()) << prefix.status();
      if (!prefix.ok() || buffer_.size() < prefix->frame_bytes()) break;
      frames.push_back(Received{
          *prefix, buffer_.substr(wire::kPrefixBytes, prefix->header_length),
          buffer_.substr(wire::kPrefixBytes + prefix->header_length,
                         prefix->payload_length)});
      buffer_.erase(0, prefix->frame_bytes());
    }
    return frames;
  }

  // Writes `queue` out completely, reading as it goes.
  std::vector<Received> WriteAll(OutputQueue& queue) {
    std::vector<Received> frames;
    while (!queue.empty()) {
      absl::StatusOr<size_t> written = queue.Write(writer());
      EXPECT_TRUE(written.ok()) << written.status();
      if (!written.ok()) break;
      for (Received& frame : Drain()) frames.push_back(std::move(frame));
    }
    for (Received& frame : Drain()) frames.push_back(std::move(frame));
    return frames;
  }

  // Descriptors received so far.
  std::vector<Fd>& fds() { return fds_; }
  size_t pending_bytes() const { return buffer_.size(); }

 private:
  Fd writer_;
  Fd reader_;
  std::string buffer_;
  std::vector<Fd> fds_;
};

wire::Frame MakeFrame(wire::Kind kind, uint64_t request_id,
                      absl::string_view payload, size_t fd_count = 0) {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = request_id;
  prefix.fd_count = static_cast<uint8_t>(fd_count);
  wire::Frame frame = wire::Frame::Build(prefix, "head", payload);
  std::vector<Fd> fds;
  for (size_t i = 0; i < fd_count; ++i) {
    fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    EXPECT_TRUE(fds.back().valid());
  }
  frame.set_fds(std::move(fds));
  return frame;
}

std::shared_ptr<const wire::Frame> MakeMessage(absl::string_view payload,
                                               size_t fd_count = 0) {
  wire::Frame frame = MakeFrame(wire::Kind::kMessage, 0, payload, fd_count);
  frame.set_sender(42, 1000, 77);
  return std::make_shared<const wire::Frame>(std::move(frame));
}

TEST(OutputQueueTest, WritesOwnedFramesInOrder) {
  SocketPair pair;
  OutputQueue queue;
  queue.Push(MakeFrame(wire::Kind::kReply, 1, "one"));
  queue.Push(MakeFrame(wire::Kind::kReply, 2, "two"));
  queue.Push(MakeFrame(wire::Kind::kEvent, 0, "three"));
  EXPECT_EQ(queue.bytes(), 3 * (wire::kPrefixBytes + 4) + 3 + 3 + 5);
  absl::StatusOr<size_t> written = queue.Write(pair.writer());
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 3 * (wire::kPrefixBytes + 4) + 3 + 3 + 5);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  std::vector<Received> frames = pair.Drain();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].payload, "one");
  EXPECT_EQ(frames[0].prefix.request_id, 1u);
  EXPECT_EQ(frames[1].payload, "two");
  EXPECT_EQ(frames[2].payload, "three");
  EXPECT_EQ(frames[2].prefix.kind, wire::Kind::kEvent);
}

TEST(OutputQueueTest, BatchesMoreFramesThanOneSendmsgTakes) {
  SocketPair pair;
  OutputQueue queue;
  // More iovecs than IOV_MAX (1024): several batches, order kept.
  constexpr int kFrames = 3000;
  std::shared_ptr<const wire::Frame> message = MakeMessage("m");
  for (int i = 1; i <= kFrames; ++i) {
    if (i % 2 == 0) {
      queue.PushMessage(i, message);
    } else {
      queue.Push(MakeFrame(wire::Kind::kReply, i, "r"));
    }
  }
  std::vector<Received> frames = pair.WriteAll(queue);
  ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
  for (int i = 1; i <= kFrames; ++i) {
    EXPECT_EQ(frames[i - 1].prefix.request_id, static_cast<uint64_t>(i));
    EXPECT_EQ(frames[i - 1].payload, i % 2 == 0 ? "m" : "r");
  }
  EXPECT_EQ(message.use_count(), 1);
}

TEST(OutputQueueTest, SmallFramesSurvivePartialWritesInsideABatch) {
  SocketPair pair;
  OutputQueue queue;
  // Far more small frames than the socket holds: writes stop in the middle
  // of frames that were gathered into one piece, and resume there.
  constexpr int kFrames = 40000;
  for (int i = 0; i < kFrames; ++i) {
    if (i % 3 == 0) {
      queue.Push(MakeFrame(wire::Kind::kReply, i, absl::StrCat("reply ", i)));
    } else {
      queue.PushMessage(i, MakeMessage(absl::StrCat("message ", i)));
    }
  }
  size_t writes = 0;
  std::vector<Received> frames;
  while (!queue.empty()) {
    absl::StatusOr<size_t> written = queue.Write(pair.writer());
    ASSERT_TRUE(written.ok()) << written.status();
    ++writes;
    for (Received& frame : pair.Drain()) frames.push_back(std::move(frame));
  }
  EXPECT_GT(writes, 1u);
  ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
  for (int i = 0; i < kFrames; ++i) {
    EXPECT_EQ(frames[i].prefix.request_id, static_cast<uint64_t>(i));
    EXPECT_EQ(frames[i].payload,
              absl::StrCat(i % 3 == 0 ? "reply " : "message ", i));
  }
}

TEST(OutputQueueTest, SharedMessageCarriesEachSubscriptionsRequestId) {
  SocketPair first_pair;
  SocketPair second_pair;
  OutputQueue first;
  OutputQueue second;
  std::shared_ptr<const wire::Frame> message = MakeMessage("hello world");
  const std::string original(message->bytes());
  first.PushMessage(7, message);
  first.PushMessage(8, message);  // two subscriptions of one session
  second.PushMessage(9, message);
  EXPECT_EQ(message.use_count(), 4);
  EXPECT_EQ(first.bytes(), 2 * message->bytes().size());
  EXPECT_EQ(first.Queued(7).messages, 1u);
  EXPECT_EQ(first.Queued(7).bytes, message->bytes().size());

  std::vector<Received> got_first = first_pair.WriteAll(first);
  std::vector<Received> got_second = second_pair.WriteAll(second);
  ASSERT_EQ(got_first.size(), 2u);
  ASSERT_EQ(got_second.size(), 1u);
  EXPECT_EQ(got_first[0].prefix.request_id, 7u);
  EXPECT_EQ(got_first[1].prefix.request_id, 8u);
  EXPECT_EQ(got_second[0].prefix.request_id, 9u);
  for (const Received* frame : {&got_first[0], &got_first[1], &got_second[0]}) {
    EXPECT_EQ(frame->prefix.kind, wire::Kind::kMessage);
    EXPECT_EQ(frame->prefix.sender, 42u);
    EXPECT_EQ(frame->prefix.sender_uid, 1000u);
    EXPECT_EQ(frame->prefix.sender_pid, 77u);
    EXPECT_EQ(frame->header, "head");
    EXPECT_EQ(frame->payload, "hello world");
  }
  // The shared frame itself never changes, and is released once written.
  EXPECT_EQ(message->bytes(), original);
  EXPECT_EQ(message.use_count(), 1);
  EXPECT_EQ(first.Queued(7).messages, 0u);
}

TEST(OutputQueueTest, PartialWritesResumeWhereTheyStopped) {
  SocketPair pair;
  OutputQueue queue;
  const std::string big(4 << 20, 'x');
  std::shared_ptr<const wire::Frame> message = MakeMessage(big);
  queue.PushMessage(3, message);
  queue.Push(MakeFrame(wire::Kind::kReply, 5, big));
  queue.PushMessage(4, MakeMessage("small"));
  const size_t total = queue.bytes();

  absl::StatusOr<size_t> written = queue.Write(pair.writer());
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_GT(*written, 0u);
  ASSERT_LT(*written, total);  // the socket filled up
  EXPECT_EQ(queue.bytes(), total - *written);
  // The first message is partly written: no longer queued for its
  // subscription; the last one is untouched.
  EXPECT_EQ(queue.Queued(3).messages, 0u);
  EXPECT_EQ(queue.Queued(4).messages, 1u);
  // A full socket writes nothing more.
  written = queue.Write(pair.writer());
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, 0u);

  std::vector<Received> frames = pair.WriteAll(queue);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].prefix.request_id, 3u);
  EXPECT_EQ(frames[0].payload, big);
  EXPECT_EQ(frames[1].prefix.request_id, 5u);
  EXPECT_EQ(frames[1].payload, big);
  EXPECT_EQ(frames[2].prefix.request_id, 4u);
  EXPECT_EQ(frames[2].payload, "small");
  EXPECT_EQ(pair.pending_bytes(), 0u);
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(OutputQueueTest, PassesDescriptorsOnceWithTheirFrame) {
  SocketPair pair;
  OutputQueue queue;
  const std::string big(2 << 20, 'y');
  queue.Push(MakeFrame(wire::Kind::kCall, 1, big, 2));
  std::shared_ptr<const wire::Frame> message = MakeMessage("m", 3);
  queue.PushMessage(6, message);
  queue.PushMessage(7, message);  // its descriptors go once per entry
  EXPECT_EQ(queue.fds(), 2u + 3u + 3u);

  absl::StatusOr<size_t> written = queue.Write(pair.writer());
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_FALSE(queue.empty());  // the socket filled up inside the first
  EXPECT_TRUE(pair.Drain().empty());
  // Every frame of the batch passed its descriptors with its first byte;
  // the queue holds them until each frame is written.
  EXPECT_EQ(pair.fds().size(), 8u);
  EXPECT_EQ(queue.fds(), 8u);
  // Messages whose descriptors the client holds must follow them.
  EXPECT_EQ(queue.Queued(6).messages, 0u);
  EXPECT_EQ(queue.DropOldest(6), 0u);

  std::vector<Received> frames = pair.WriteAll(queue);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1].prefix.request_id, 6u);
  EXPECT_EQ(frames[2].prefix.request_id, 7u);
  EXPECT_EQ(pair.fds().size(), 8u);
  EXPECT_EQ(queue.fds(), 0u);
  EXPECT_EQ(message.use_count(), 1);
}

TEST(OutputQueueTest, PassesAtMostOneControlMessageOfDescriptorsPerSendmsg) {
  SocketPair pair;
  OutputQueue queue;
  // 40 frames with 8 descriptors each: 320, more than one sendmsg passes.
  for (int i = 1; i <= 40; ++i) {
    queue.Push(MakeFrame(wire::Kind::kCall, i, "b", 8));
  }
  EXPECT_EQ(queue.fds(), 320u);
  std::vector<Received> frames = pair.WriteAll(queue);
  ASSERT_EQ(frames.size(), 40u);
  EXPECT_EQ(pair.fds().size(), 320u);
  EXPECT_EQ(queue.fds(), 0u);
}

TEST(OutputQueueTest, CountsAndDropsPerSubscription) {
  SocketPair pair;
  OutputQueue queue;
  std::shared_ptr<const wire::Frame> small = MakeMessage("a");
  std::shared_ptr<const wire::Frame> large = MakeMessage("bbbbbbbbbb");
  queue.PushMessage(1, small);
  queue.Push(MakeFrame(wire::Kind::kReply, 99, "reply"));
  queue.PushMessage(2, small);
  queue.PushMessage(1, large);
  queue.PushMessage(1, small);
  EXPECT_EQ(queue.Queued(1).messages, 3u);
  EXPECT_EQ(queue.Queued(1).bytes,
            2 * small->bytes().size() + large->bytes().size());
  EXPECT_EQ(queue.Queued(2).messages, 1u);
  EXPECT_EQ(queue.Queued(3).messages, 0u);
  EXPECT_EQ(queue.DropOldest(3), 0u);

  const size_t before = queue.bytes();
  EXPECT_EQ(queue.DropOldest(1), small->bytes().size());
  EXPECT_EQ(queue.bytes(), before - small->bytes().size());
  EXPECT_EQ(queue.Queued(1).messages, 2u);
  EXPECT_EQ(queue.DropOldest(1), large->bytes().size());
  EXPECT_EQ(queue.Queued(1).messages, 1u);
  EXPECT_EQ(queue.Queued(1).bytes, small->bytes().size());

  std::vector<Received> frames = pair.WriteAll(queue);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].prefix.request_id, 99u);
  EXPECT_EQ(frames[1].prefix.request_id, 2u);
  EXPECT_EQ(frames[2].prefix.request_id, 1u);
  EXPECT_EQ(frames[2].payload, "a");
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.DropOldest(1), 0u);
}

TEST(OutputQueueTest, DropOldestNeverTouchesAPartlyWrittenMessage) {
  SocketPair pair;
  OutputQueue queue;
  const std::string big(4 << 20, 'z');
  queue.PushMessage(1, MakeMessage(big));
  absl::StatusOr<size_t> written = queue.Write(pair.writer());
  ASSERT_TRUE(written.ok());
  ASSERT_GT(*written, 0u);
  ASSERT_FALSE(queue.empty());
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.DropOldest(1), 0u);

  std::shared_ptr<const wire::Frame> next = MakeMessage("next");
  queue.PushMessage(1, next);
  queue.PushMessage(1, MakeMessage("last"));
  EXPECT_EQ(queue.Queued(1).messages, 2u);
  EXPECT_EQ(queue.DropOldest(1), next->bytes().size());
  EXPECT_EQ(next.use_count(), 1);  // released at once

  std::vector<Received> frames = pair.WriteAll(queue);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].payload, big);
  EXPECT_EQ(frames[1].payload, "last");
}

TEST(OutputQueueTest, MemoryStaysBoundedUnderEndlessDropOldest) {
  SocketPair pair;
  OutputQueue queue;
  // A frame too large for the socket stays partly written at the front: the
  // client stopped reading.
  queue.Push(MakeFrame(wire::Kind::kReply, 1, std::string(4 << 20, 'p')));
  ASSERT_TRUE(queue.Write(pair.writer()).ok());
  // Subscription 2 keeps a few messages; subscription 1 is held at 16 by
  // dropping its oldest, forever.
  for (int i = 0; i < 4; ++i) queue.PushMessage(2, MakeMessage("keep"));
  constexpr size_t kLimit = 16;
  size_t max_entries = 0;
  size_t max_slots = 0;
  for (int i = 0; i < 100000; ++i) {
    queue.PushMessage(1, MakeMessage(absl::StrCat(i)));
    if (i % 1000 == 0) queue.PushMessage(2, MakeMessage("keep"));
    while (queue.Queued(1).messages > kLimit) {
      ASSERT_GT(queue.DropOldest(1), 0u);
    }
    max_entries = std::max(max_entries, queue.EntryCountForTest());
    max_slots = std::max(max_slots, queue.SlotCountForTest());
  }
  const size_t live = 1 + kLimit + queue.Queued(2).messages;
  EXPECT_EQ(queue.EntryCountForTest() - queue.TombstoneCountForTest(), live);
  EXPECT_LE(max_entries, 2 * live + OutputQueue::kMinTombstonesToCompact + 1);
  EXPECT_LE(max_slots, 2 * max_entries);
  EXPECT_EQ(queue.Queued(2).messages, 4u + 100u);

  // What is left arrives intact and in order.
  std::vector<Received> frames = pair.WriteAll(queue);
  ASSERT_EQ(frames.size(), live);
  std::vector<std::string> ones;
  for (const Received& frame : frames) {
    if (frame.prefix.request_id == 1 &&
        frame.prefix.kind == wire::Kind::kMessage)
      ones.push_back(frame.payload);
  }
  ASSERT_EQ(ones.size(), kLimit);
  for (size_t i = 0; i < kLimit; ++i) {
    EXPECT_EQ(ones[i], absl::StrCat(100000 - kLimit + i));
  }
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
  // Drained, the queue gives its memory back (but for the slots it keeps
  // for the next burst).
  EXPECT_LE(queue.SlotCountForTest(), Ring<int>::kKeptCapacity);
}

TEST(OutputQueueTest, DropMessagesKeepsOwnedFramesAndWhatIsCommitted) {
  SocketPair pair;
  OutputQueue queue;
  const std::string big(4 << 20, 'b');
  std::shared_ptr<const wire::Frame> started = MakeMessage(big);
  queue.PushMessage(1, started);
  ASSERT_TRUE(queue.Write(pair.writer()).ok());  // partly written
  std::shared_ptr<const wire::Frame> waiting = MakeMessage("waiting", 1);
  queue.PushMessage(1, waiting);
  queue.Push(MakeFrame(wire::Kind::kReply, 5, "reply"));
  queue.PushMessage(2, waiting);
  queue.DropOldest(2);  // a tombstone among them
  queue.PushMessage(2, MakeMessage("also waiting"));
  queue.Push(MakeFrame(wire::Kind::kError, 0, "error"));

  queue.DropMessages();
  EXPECT_EQ(waiting.use_count(), 1);
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.Queued(2).messages, 0u);
  EXPECT_EQ(queue.fds(), 0u);
  std::vector<Received> frames = pair.WriteAll(queue);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].payload, big);
  EXPECT_EQ(frames[1].payload, "reply");
  EXPECT_EQ(frames[2].prefix.kind, wire::Kind::kError);
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(pair.fds().size(), 0u);
  // Messages queued afterwards are accounted for as before.
  queue.PushMessage(1, waiting);
  EXPECT_EQ(queue.Queued(1).messages, 1u);
}

TEST(OutputQueueTest, ClearReleasesEverything) {
  OutputQueue queue;
  std::shared_ptr<const wire::Frame> message = MakeMessage("m", 2);
  queue.PushMessage(1, message);
  queue.PushMessage(2, message);
  queue.Push(MakeFrame(wire::Kind::kReply, 3, "r", 1));
  queue.DropOldest(1);
  EXPECT_EQ(queue.fds(), 3u);
  queue.Clear();
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.fds(), 0u);
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
  EXPECT_EQ(queue.SlotCountForTest(), 0u);
  EXPECT_EQ(queue.Queued(2).messages, 0u);
  EXPECT_EQ(message.use_count(), 1);
  // Usable again afterwards.
  queue.PushMessage(2, message);
  EXPECT_EQ(queue.Queued(2).messages, 1u);
}

TEST(OutputQueueTest, ReportsAWriteToAClosedPeer) {
  OutputQueue queue;
  queue.Push(MakeFrame(wire::Kind::kReply, 1, "r"));
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Fd writer(fds[0]);
  ::close(fds[1]);
  absl::StatusOr<size_t> written = queue.Write(writer.get());
  EXPECT_EQ(written.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace switchboard::server
