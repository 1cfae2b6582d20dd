// SPDX-License-Identifier: MIT
#include "daemon/server/output_queue.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/log.h"
#include "daemon/server/ring.h"
#include "gtest/gtest.h"
#include "io/fd_passing.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame_decoder.h"
#include "wire/publish_run.h"

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

  // Reads every byte the socket holds now, as bytes, not frames (keeping
  // any descriptors). Not to be mixed with Drain() on one pair.
  std::string ReadBytes() {
    std::string bytes;
    char chunk[64 * 1024];
    while (true) {
      absl::StatusOr<io::Received> got =
          io::RecvWithFds(reader_.get(), absl::MakeSpan(chunk), fds_);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok() || got->bytes == 0) break;
      EXPECT_FALSE(got->fds_truncated);
      bytes.append(chunk, got->bytes);
    }
    return bytes;
  }

  // Writes `queue` out completely, reading as it goes; returns the bytes
  // read.
  std::string WriteAllBytes(OutputQueue& queue) {
    std::string bytes;
    while (!queue.empty()) {
      absl::StatusOr<size_t> written = queue.Write(writer());
      EXPECT_TRUE(written.ok()) << written.status();
      if (!written.ok()) break;
      bytes += ReadBytes();
    }
    bytes += ReadBytes();
    return bytes;
  }

  // Makes the writer's send buffer as small as the kernel allows, so one
  // Write() stops after a few KiB.
  void ShrinkSendBuffer() {
    const int size = 1;
    EXPECT_EQ(
        ::setsockopt(writer_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)),
        0);
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

// Runs (wire::PublishRun): small messages from one publisher, back to back
// in one shared buffer, queued as one entry per subscription.

std::string PublishHeader(absl::string_view topic) {
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  return header.SerializeAsString();
}

// A run of MESSAGEs made as the broker makes one: PUBLISH frames on `topic`
// with `payloads`, taken by the decoder as one run and stamped with sender
// 42 (uid 1000, pid 77).
std::shared_ptr<const wire::PublishRun> MakeRun(
    const std::vector<std::string>& payloads,
    absl::string_view topic = "t.run") {
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kPublish;
  const std::string header = PublishHeader(topic);
  std::string bytes;
  for (const std::string& payload : payloads) {
    absl::StrAppend(&bytes,
                    wire::Frame::Build(prefix, header, payload).bytes());
  }
  wire::FrameDecoder decoder(wire::Limits{});
  decoder.Append(bytes);
  std::optional<wire::PublishRun> run = decoder.TakePublishRun();
  SB_CHECK(run.has_value() && run->count() == payloads.size() &&
           run->bytes() == bytes)
      << "the frames do not form one run";
  run->StampMessages(42, 1000, 77, 0);
  return std::make_shared<const wire::PublishRun>(*std::move(run));
}

// "tag0", "tag1", ...: `count` payloads, each padded with '.' to `size`
// bytes if given, so that every frame of a run has the same size.
std::vector<std::string> Payloads(absl::string_view tag, int count,
                                  size_t size = 0) {
  std::vector<std::string> payloads;
  for (int i = 0; i < count; ++i) {
    std::string payload = absl::StrCat(tag, i);
    if (payload.size() < size) payload.resize(size, '.');
    payloads.push_back(std::move(payload));
  }
  return payloads;
}

// `frame` as the reader gets it for `request_id`.
std::string Stamped(absl::string_view frame, uint64_t request_id) {
  std::string bytes(frame);
  wire::StampRequestId(bytes.data(), request_id);
  return bytes;
}

// The frames of `run` as the reader gets them for `subscription`.
std::vector<std::string> StampedFrames(const wire::PublishRun& run,
                                       uint64_t subscription) {
  std::vector<std::string> frames;
  const absl::string_view bytes = run.bytes();
  for (size_t offset = 0; offset < bytes.size();) {
    const size_t size = wire::PublishRun::FrameBytesAt(bytes.data() + offset);
    frames.push_back(Stamped(bytes.substr(offset, size), subscription));
    offset += size;
  }
  return frames;
}

// frames[from, to) back to back.
std::string Join(const std::vector<std::string>& frames, size_t from = 0,
                 size_t to = SIZE_MAX) {
  std::string bytes;
  for (size_t i = from; i < std::min(to, frames.size()); ++i) {
    bytes += frames[i];
  }
  return bytes;
}

// The frames in `bytes`, parsed.
std::vector<Received> ParseFrames(absl::string_view bytes) {
  std::vector<Received> frames;
  while (bytes.size() >= wire::kPrefixBytes) {
    absl::StatusOr<wire::Prefix> prefix = wire::DecodePrefix(bytes);
    EXPECT_TRUE(prefix.ok()) << prefix.status();
    if (!prefix.ok() || bytes.size() < prefix->frame_bytes()) break;
    frames.push_back(Received{
        *prefix,
        std::string(bytes.substr(wire::kPrefixBytes, prefix->header_length)),
        std::string(bytes.substr(wire::kPrefixBytes + prefix->header_length,
                                 prefix->payload_length))});
    bytes.remove_prefix(prefix->frame_bytes());
  }
  return frames;
}

// A stream of frames in short words, for readable failures: "MESSAGE 7 a3"
// (kind, request id, payload cut at 16 bytes); unparsed bytes at the end
// as "+N bytes".
std::vector<std::string> Summary(absl::string_view bytes) {
  std::vector<std::string> out;
  size_t parsed = 0;
  for (const Received& frame : ParseFrames(bytes)) {
    out.push_back(absl::StrCat(wire::KindName(frame.prefix.kind), " ",
                               frame.prefix.request_id, " ",
                               frame.payload.substr(0, 16)));
    parsed += frame.prefix.frame_bytes();
  }
  if (parsed < bytes.size()) {
    out.push_back(absl::StrCat("+", bytes.size() - parsed, " bytes"));
  }
  return out;
}

// Expects `got` to be byte for byte `expected`, showing both as frames if
// not.
void ExpectStream(const std::string& got, const std::string& expected) {
  EXPECT_EQ(Summary(got), Summary(expected));
  EXPECT_TRUE(got == expected)
      << "the streams differ in their bytes (" << got.size() << " vs "
      << expected.size() << " bytes)";
}

TEST(OutputQueueTest, ARunIsWrittenAsItsMessagesWithEachSubscriptionsId) {
  std::shared_ptr<const wire::PublishRun> run = MakeRun(Payloads("r", 5));
  const std::string original(run->bytes());
  SocketPair first_pair;
  SocketPair second_pair;
  OutputQueue first;
  OutputQueue second;
  first.PushRun(7, run);
  first.PushRun(8, run);  // two subscriptions of one session
  second.PushRun(9, run);
  EXPECT_EQ(run.use_count(), 4);
  EXPECT_EQ(first.EntryCountForTest(), 2u);
  EXPECT_EQ(first.bytes(), 2 * run->bytes().size());
  EXPECT_EQ(first.fds(), 0u);
  // Each message counts for its subscription.
  EXPECT_EQ(first.Queued(7).messages, 5u);
  EXPECT_EQ(first.Queued(7).bytes, run->bytes().size());
  EXPECT_EQ(first.Queued(8).messages, 5u);
  EXPECT_EQ(first.Queued(8).bytes, run->bytes().size());
  EXPECT_EQ(second.Queued(9).messages, 5u);

  const std::string got_first = first_pair.WriteAllBytes(first);
  const std::string got_second = second_pair.WriteAllBytes(second);
  // Byte for byte the run's frames but for the request id.
  ExpectStream(got_first,
               Join(StampedFrames(*run, 7)) + Join(StampedFrames(*run, 8)));
  ExpectStream(got_second, Join(StampedFrames(*run, 9)));
  std::vector<Received> frames = ParseFrames(got_first);
  ASSERT_EQ(frames.size(), 10u);
  for (size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(frames[i].prefix.kind, wire::Kind::kMessage);
    EXPECT_EQ(frames[i].prefix.request_id, i < 5 ? 7u : 8u);
    EXPECT_EQ(frames[i].prefix.sender, 42u);
    EXPECT_EQ(frames[i].prefix.sender_uid, 1000u);
    EXPECT_EQ(frames[i].prefix.sender_pid, 77u);
    EXPECT_EQ(frames[i].prefix.flags, 0);
    EXPECT_EQ(frames[i].header, PublishHeader("t.run"));
    EXPECT_EQ(frames[i].payload, absl::StrCat("r", i % 5));
  }
  frames = ParseFrames(got_second);
  ASSERT_EQ(frames.size(), 5u);
  for (const Received& frame : frames) {
    EXPECT_EQ(frame.prefix.request_id, 9u);
    EXPECT_EQ(frame.prefix.kind, wire::Kind::kMessage);
  }
  // The shared run never changes, and is released once written.
  EXPECT_EQ(run->bytes(), original);
  EXPECT_EQ(run.use_count(), 1);
  EXPECT_EQ(first.Queued(7).messages, 0u);
  EXPECT_EQ(first.Queued(8).bytes, 0u);
  EXPECT_EQ(first.bytes(), 0u);
}

TEST(OutputQueueTest, DropOldestTakesARunsMessagesOneAtATime) {
  SocketPair pair;
  OutputQueue queue;
  // Payloads of different sizes: each drop's size names the message.
  std::shared_ptr<const wire::PublishRun> run =
      MakeRun({"a", "bb", "ccc", "dddd", "eeeee"});
  const std::vector<std::string> ones = StampedFrames(*run, 1);
  const std::vector<std::string> twos = StampedFrames(*run, 2);
  wire::Frame reply = MakeFrame(wire::Kind::kReply, 9, "reply");
  const std::string reply_bytes(reply.bytes());
  queue.Push(std::move(reply));  // the run is not at the front
  queue.PushRun(1, run);
  std::shared_ptr<const wire::Frame> after = MakeMessage("after");
  queue.PushMessage(1, after);
  queue.PushRun(2, run);

  size_t queued_bytes = run->bytes().size() + after->bytes().size();
  for (size_t i = 0; i < ones.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(queue.Queued(1).messages, 6 - i);
    EXPECT_EQ(queue.Queued(1).bytes, queued_bytes);
    const size_t before = queue.bytes();
    ASSERT_EQ(queue.DropOldest(1), ones[i].size());
    queued_bytes -= ones[i].size();
    EXPECT_EQ(queue.bytes(), before - ones[i].size());
    // The other subscription's copy of the run is untouched.
    EXPECT_EQ(queue.Queued(2).messages, 5u);
  }
  // Empty, the run is a tombstone behind the reply; the next oldest of
  // subscription 1 is the message after it.
  EXPECT_EQ(queue.TombstoneCountForTest(), 1u);
  EXPECT_EQ(queue.Queued(1).messages, 1u);
  EXPECT_EQ(queue.Queued(1).bytes, after->bytes().size());
  EXPECT_EQ(run.use_count(), 2);  // ours and subscription 2's

  EXPECT_EQ(queue.DropOldest(2), twos[0].size());
  EXPECT_EQ(queue.DropOldest(2), twos[1].size());
  EXPECT_EQ(queue.Queued(2).messages, 3u);
  EXPECT_EQ(queue.Queued(2).bytes,
            twos[2].size() + twos[3].size() + twos[4].size());

  // The written stream lacks exactly what was dropped.
  ExpectStream(pair.WriteAllBytes(queue),
               reply_bytes + Stamped(after->bytes(), 1) + Join(twos, 2));
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
  EXPECT_EQ(queue.TombstoneCountForTest(), 0u);
  EXPECT_EQ(run.use_count(), 1);
  EXPECT_EQ(queue.DropOldest(1), 0u);
  EXPECT_EQ(queue.DropOldest(2), 0u);
}

TEST(OutputQueueTest, ARunDroppedToNothingAtTheFrontIsPoppedAtOnce) {
  SocketPair pair;
  OutputQueue queue;
  std::shared_ptr<const wire::PublishRun> run = MakeRun(Payloads("x", 3));
  std::shared_ptr<const wire::PublishRun> other = MakeRun(Payloads("y", 2));
  const std::vector<std::string> ones = StampedFrames(*run, 1);
  queue.PushRun(1, run);
  queue.PushRun(2, other);
  for (const std::string& frame : ones) {
    EXPECT_EQ(queue.DropOldest(1), frame.size());
  }
  EXPECT_EQ(queue.EntryCountForTest(), 1u);
  EXPECT_EQ(queue.TombstoneCountForTest(), 0u);
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.Queued(1).bytes, 0u);
  EXPECT_EQ(queue.DropOldest(1), 0u);
  EXPECT_EQ(run.use_count(), 1);  // released at once
  EXPECT_EQ(queue.bytes(), other->bytes().size());
  ExpectStream(pair.WriteAllBytes(queue), Join(StampedFrames(*other, 2)));
}

TEST(OutputQueueTest, RunsKeepTheirPlaceAmongOtherEntries) {
  SocketPair pair;
  OutputQueue queue;
  std::shared_ptr<const wire::PublishRun> a = MakeRun(Payloads("a", 3));
  std::shared_ptr<const wire::PublishRun> b =
      MakeRun(Payloads("b", 4), "t.other");
  std::shared_ptr<const wire::PublishRun> c = MakeRun(Payloads("c", 2));
  std::shared_ptr<const wire::Frame> single = MakeMessage("single");
  wire::Frame reply = MakeFrame(wire::Kind::kReply, 5, "reply");
  wire::Frame event = MakeFrame(wire::Kind::kEvent, 0, "event");
  const std::string expected =
      std::string(reply.bytes()) + Stamped(single->bytes(), 2) +
      Join(StampedFrames(*a, 2)) + Join(StampedFrames(*b, 3)) +
      std::string(event.bytes()) + Stamped(single->bytes(), 3) +
      Join(StampedFrames(*c, 2));
  queue.Push(std::move(reply));
  queue.PushMessage(2, single);
  queue.PushRun(2, a);
  queue.PushRun(3, b);
  queue.Push(std::move(event));
  queue.PushMessage(3, single);
  queue.PushRun(2, c);
  EXPECT_EQ(queue.Queued(2).messages, 1u + 3u + 2u);
  EXPECT_EQ(queue.Queued(2).bytes,
            single->bytes().size() + a->bytes().size() + c->bytes().size());
  EXPECT_EQ(queue.Queued(3).messages, 4u + 1u);
  EXPECT_EQ(queue.Queued(3).bytes, b->bytes().size() + single->bytes().size());
  EXPECT_EQ(queue.bytes(), expected.size());
  ExpectStream(pair.WriteAllBytes(queue), expected);
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.Queued(2).messages, 0u);
  EXPECT_EQ(queue.Queued(3).messages, 0u);
}

TEST(OutputQueueTest, ManyRunsAreWrittenInOrderAcrossBatches) {
  SocketPair pair;
  OutputQueue queue;
  // Far more than the 64 KiB staging buffer and the socket's buffer: the
  // batches end inside runs, and so do the writes.
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    std::shared_ptr<const wire::PublishRun> run =
        MakeRun(Payloads(absl::StrCat("run", i, "."), 20, 100));
    const uint64_t subscription = 1 + i % 3;
    queue.PushRun(subscription, run);
    expected += Join(StampedFrames(*run, subscription));
    if (i % 100 == 0) {
      wire::Frame large =
          MakeFrame(wire::Kind::kReply, i, std::string(5000, 'L'));
      absl::StrAppend(&expected, large.bytes());
      queue.Push(std::move(large));
    }
  }
  EXPECT_EQ(queue.Queued(1).messages, 667u * 20);
  EXPECT_EQ(queue.bytes(), expected.size());
  ExpectStream(pair.WriteAllBytes(queue), expected);
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
}

// Partial writes. With the writer's send buffer small, one Write() to an
// empty socket takes the same few KiB every time; the tests measure that
// amount and put a padding frame in front of what they queue so that the
// write ends exactly where they want it to.

// Bytes one Write() puts into `pair`'s empty socket when the queue holds
// far more. The probe's bytes are read and thrown away, which leaves the
// socket empty again.
size_t MeasureCapacity(SocketPair& pair) {
  OutputQueue probe;
  probe.Push(MakeFrame(wire::Kind::kReply, 1, std::string(256 << 10, 'c')));
  absl::StatusOr<size_t> written = probe.Write(pair.writer());
  EXPECT_TRUE(written.ok()) << written.status();
  pair.ReadBytes();
  return written.ok() ? *written : 0;
}

// What a test queued around its own entries: the reader gets `padding`
// first and `tail` last.
struct Framing {
  std::string padding;
  std::string tail;
};

// Queues a padding frame, then what `fill` pushes, then a large tail, so
// that one Write() to `pair`'s empty socket (after ShrinkSendBuffer())
// ends exactly `target` bytes after the padding; writes once. Nullopt (and
// a failure) if the socket never takes what it took when measured.
std::optional<Framing> WriteEndingAt(
    SocketPair& pair, OutputQueue& queue, size_t target,
    absl::FunctionRef<void(OutputQueue&)> fill) {
  constexpr size_t kFrameOverhead = wire::kPrefixBytes + 4;  // "head"
  for (int attempt = 0; attempt < 3; ++attempt) {
    const size_t capacity = MeasureCapacity(pair);
    if (capacity < target + kFrameOverhead + 1) {
      ADD_FAILURE() << "the socket takes only " << capacity
                    << " bytes at once; the test needs " << target
                    << " after the padding";
      return std::nullopt;
    }
    Framing framing;
    wire::Frame padding =
        MakeFrame(wire::Kind::kReply, 1,
                  std::string(capacity - target - kFrameOverhead, 'p'));
    framing.padding = std::string(padding.bytes());
    SB_CHECK(framing.padding.size() + target == capacity);
    queue.Push(std::move(padding));
    fill(queue);
    wire::Frame tail =
        MakeFrame(wire::Kind::kReply, 2, std::string(64 << 10, 't'));
    framing.tail = std::string(tail.bytes());
    queue.Push(std::move(tail));
    absl::StatusOr<size_t> written = queue.Write(pair.writer());
    if (!written.ok()) {
      ADD_FAILURE() << written.status();
      return std::nullopt;
    }
    if (*written == capacity) return framing;
    queue.Clear();
    pair.ReadBytes();
  }
  ADD_FAILURE() << "the socket does not take the same amount at every write";
  return std::nullopt;
}

constexpr size_t kRunPayloadBytes = 60;

TEST(OutputQueueTest, AWriteEndingBetweenARunsMessagesLeavesTheRestQueued) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  std::shared_ptr<const wire::PublishRun> run =
      MakeRun(Payloads("m", 40, kRunPayloadBytes));
  const std::vector<std::string> frames = StampedFrames(*run, 1);
  const size_t size = frames[0].size();
  OutputQueue queue;
  std::optional<Framing> framing = WriteEndingAt(
      pair, queue, 10 * size, [&](OutputQueue& q) { q.PushRun(1, run); });
  ASSERT_TRUE(framing.has_value());
  EXPECT_EQ(queue.bytes(), 30 * size + framing->tail.size());
  // The ten messages written are no longer queued; the rest are, in the
  // run, and can still be dropped.
  EXPECT_EQ(queue.Queued(1).messages, 30u);
  EXPECT_EQ(queue.Queued(1).bytes, 30 * size);
  EXPECT_EQ(queue.EntryCountForTest(), 2u);  // the run and the tail
  EXPECT_EQ(queue.DropOldest(1), size);      // message 10
  EXPECT_EQ(queue.Queued(1).messages, 29u);
  EXPECT_EQ(queue.Queued(1).bytes, 29 * size);

  std::string got = pair.ReadBytes();
  ExpectStream(got, framing->padding + Join(frames, 0, 10));
  got += pair.WriteAllBytes(queue);
  ExpectStream(got, framing->padding + Join(frames, 0, 10) + Join(frames, 11) +
                        framing->tail);
  EXPECT_EQ(run.use_count(), 1);
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
}

TEST(OutputQueueTest, AMessageOfARunWrittenInPartIsSplitOffAndFinished) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  std::shared_ptr<const wire::PublishRun> run =
      MakeRun(Payloads("m", 40, kRunPayloadBytes));
  const std::vector<std::string> frames = StampedFrames(*run, 1);
  const size_t size = frames[0].size();
  OutputQueue queue;
  std::optional<Framing> framing = WriteEndingAt(
      pair, queue, 10 * size + 17, [&](OutputQueue& q) { q.PushRun(1, run); });
  ASSERT_TRUE(framing.has_value());
  EXPECT_EQ(queue.bytes(), (size - 17) + 29 * size + framing->tail.size());
  // Message 10 was written in part: it is no longer queued and cannot be
  // dropped; it waits in front of the run as a frame of its own.
  EXPECT_EQ(queue.Queued(1).messages, 29u);
  EXPECT_EQ(queue.Queued(1).bytes, 29 * size);
  EXPECT_EQ(queue.EntryCountForTest(), 3u);  // message 10, the run, the tail
  EXPECT_EQ(queue.TombstoneCountForTest(), 0u);
  EXPECT_EQ(queue.DropOldest(1), size);  // message 11
  EXPECT_EQ(queue.Queued(1).messages, 28u);

  std::string got = pair.ReadBytes();
  ExpectStream(
      got, framing->padding + Join(frames, 0, 10) + frames[10].substr(0, 17));
  got += pair.WriteAllBytes(queue);
  ExpectStream(got, framing->padding + Join(frames, 0, 11) + Join(frames, 12) +
                        framing->tail);
  EXPECT_EQ(run.use_count(), 1);
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
}

TEST(OutputQueueTest, ARunWhoseLastMessageIsWrittenInPartBecomesATombstone) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  std::shared_ptr<const wire::PublishRun> run =
      MakeRun(Payloads("m", 12, kRunPayloadBytes));
  const std::vector<std::string> frames = StampedFrames(*run, 1);
  const size_t size = frames[0].size();
  std::shared_ptr<const wire::Frame> after = MakeMessage("after");
  std::shared_ptr<const wire::PublishRun> later = MakeRun(Payloads("n", 3));
  const std::vector<std::string> laters = StampedFrames(*later, 1);
  OutputQueue queue;
  std::optional<Framing> framing =
      WriteEndingAt(pair, queue, 11 * size + 17, [&](OutputQueue& q) {
        q.PushRun(1, run);
        q.PushMessage(1, after);
        q.PushRun(1, later);
      });
  ASSERT_TRUE(framing.has_value());
  // Only the split-off message 11 is left of the run, which is a tombstone
  // behind it; subscription 1's oldest is now the message after the run.
  EXPECT_EQ(queue.EntryCountForTest(), 5u);
  EXPECT_EQ(queue.TombstoneCountForTest(), 1u);
  EXPECT_EQ(queue.Queued(1).messages, 1u + 3u);
  EXPECT_EQ(queue.Queued(1).bytes,
            after->bytes().size() + later->bytes().size());
  EXPECT_EQ(queue.bytes(), (size - 17) + after->bytes().size() +
                               later->bytes().size() + framing->tail.size());
  EXPECT_EQ(queue.DropOldest(1), after->bytes().size());
  EXPECT_EQ(queue.DropOldest(1), laters[0].size());
  EXPECT_EQ(queue.Queued(1).messages, 2u);
  EXPECT_EQ(after.use_count(), 1);

  std::string got = pair.ReadBytes();
  ExpectStream(
      got, framing->padding + Join(frames, 0, 11) + frames[11].substr(0, 17));
  got += pair.WriteAllBytes(queue);
  ExpectStream(
      got, framing->padding + Join(frames) + Join(laters, 1) + framing->tail);
  EXPECT_EQ(run.use_count(), 1);
  EXPECT_EQ(later.use_count(), 1);
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
  EXPECT_EQ(queue.TombstoneCountForTest(), 0u);
}

TEST(OutputQueueTest, ASplitRunsSubscriptionWithNothingElseHasNothingQueued) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  std::shared_ptr<const wire::PublishRun> run =
      MakeRun(Payloads("m", 12, kRunPayloadBytes));
  const std::vector<std::string> frames = StampedFrames(*run, 1);
  const size_t size = frames[0].size();
  OutputQueue queue;
  std::optional<Framing> framing = WriteEndingAt(
      pair, queue, 11 * size + 1, [&](OutputQueue& q) { q.PushRun(1, run); });
  ASSERT_TRUE(framing.has_value());
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.Queued(1).bytes, 0u);
  EXPECT_EQ(queue.DropOldest(1), 0u);
  // Queued afresh, the subscription's accounting starts again.
  std::shared_ptr<const wire::PublishRun> next = MakeRun(Payloads("n", 4));
  queue.PushRun(1, next);
  EXPECT_EQ(queue.Queued(1).messages, 4u);
  EXPECT_EQ(queue.DropOldest(1), StampedFrames(*next, 1)[0].size());
  std::string got = pair.ReadBytes();
  got += pair.WriteAllBytes(queue);
  ExpectStream(got, framing->padding + Join(frames) + framing->tail +
                        Join(StampedFrames(*next, 1), 1));
}

TEST(OutputQueueTest, ARunWrittenInPartBeforeDescriptorsIsCommittedWithThem) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  std::shared_ptr<const wire::PublishRun> run =
      MakeRun(Payloads("m", 40, kRunPayloadBytes));
  const std::vector<std::string> frames = StampedFrames(*run, 1);
  const size_t size = frames[0].size();
  std::shared_ptr<const wire::Frame> with_fds = MakeMessage("fds", 1);
  OutputQueue queue;
  std::optional<Framing> framing =
      WriteEndingAt(pair, queue, 10 * size + 17, [&](OutputQueue& q) {
        q.PushRun(1, run);
        q.PushMessage(2, with_fds);
      });
  ASSERT_TRUE(framing.has_value());
  // The descriptor went with the write, so everything before its message
  // is committed too: the whole run stays and is written.
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.DropOldest(1), 0u);
  EXPECT_EQ(queue.Queued(2).messages, 0u);
  EXPECT_EQ(queue.fds(), 1u);
  std::string got = pair.ReadBytes();
  EXPECT_EQ(pair.fds().size(), 1u);
  got += pair.WriteAllBytes(queue);
  ExpectStream(got, framing->padding + Join(frames) +
                        Stamped(with_fds->bytes(), 2) + framing->tail);
  EXPECT_EQ(pair.fds().size(), 1u);
  EXPECT_EQ(queue.fds(), 0u);
  EXPECT_EQ(run.use_count(), 1);
}

TEST(OutputQueueTest, DropMessagesKeepsAndFinishesAMessageSplitOffARun) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  std::shared_ptr<const wire::PublishRun> run =
      MakeRun(Payloads("m", 40, kRunPayloadBytes));
  std::shared_ptr<const wire::PublishRun> other = MakeRun(Payloads("o", 5));
  std::shared_ptr<const wire::Frame> single = MakeMessage("single");
  const std::vector<std::string> frames = StampedFrames(*run, 1);
  const size_t size = frames[0].size();
  const std::string reply_bytes(
      MakeFrame(wire::Kind::kReply, 5, "reply").bytes());
  OutputQueue queue;
  std::optional<Framing> framing =
      WriteEndingAt(pair, queue, 10 * size + 17, [&](OutputQueue& q) {
        q.PushRun(1, run);
        q.Push(MakeFrame(wire::Kind::kReply, 5, "reply"));
        q.PushRun(2, other);
        q.PushMessage(2, single);
      });
  ASSERT_TRUE(framing.has_value());
  EXPECT_EQ(queue.Queued(2).messages, 6u);
  // A run with its start moved.
  EXPECT_EQ(queue.DropOldest(2), StampedFrames(*other, 2)[0].size());
  queue.DropMessages();
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.Queued(2).messages, 0u);
  EXPECT_EQ(queue.DropOldest(1), 0u);
  EXPECT_EQ(run.use_count(), 1);
  EXPECT_EQ(other.use_count(), 1);
  EXPECT_EQ(single.use_count(), 1);
  // Left: the rest of message 10, the reply and the tail.
  EXPECT_EQ(queue.EntryCountForTest(), 3u);
  EXPECT_EQ(queue.bytes(),
            (size - 17) + reply_bytes.size() + framing->tail.size());
  std::string got = pair.ReadBytes();
  got += pair.WriteAllBytes(queue);
  ExpectStream(got, framing->padding + Join(frames, 0, 11) + reply_bytes +
                        framing->tail);
  // Runs queued afterwards are accounted for as before.
  queue.PushRun(1, run);
  EXPECT_EQ(queue.Queued(1).messages, 40u);
  EXPECT_EQ(queue.Queued(1).bytes, run->bytes().size());
  ExpectStream(pair.WriteAllBytes(queue), Join(frames));
}

TEST(OutputQueueTest, DropMessagesRemovesQueuedRuns) {
  SocketPair pair;
  OutputQueue queue;
  std::shared_ptr<const wire::PublishRun> run = MakeRun(Payloads("r", 4));
  wire::Frame reply = MakeFrame(wire::Kind::kReply, 5, "reply");
  wire::Frame error = MakeFrame(wire::Kind::kError, 0, "error");
  const std::string expected =
      std::string(reply.bytes()) + std::string(error.bytes());
  queue.PushRun(1, run);
  queue.Push(std::move(reply));
  queue.PushRun(2, run);
  EXPECT_GT(queue.DropOldest(2), 0u);  // a run with its start moved
  queue.PushRun(1, run);
  queue.Push(std::move(error));
  EXPECT_EQ(queue.Queued(1).messages, 8u);
  queue.DropMessages();
  EXPECT_EQ(run.use_count(), 1);
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.Queued(2).messages, 0u);
  EXPECT_EQ(queue.bytes(), expected.size());
  ExpectStream(pair.WriteAllBytes(queue), expected);
}

TEST(OutputQueueTest, ClearReleasesRunsAndAMessageSplitOffOne) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  std::shared_ptr<const wire::PublishRun> run =
      MakeRun(Payloads("m", 40, kRunPayloadBytes));
  std::shared_ptr<const wire::PublishRun> other = MakeRun(Payloads("o", 5));
  const std::vector<std::string> frames = StampedFrames(*run, 1);
  OutputQueue queue;
  std::optional<Framing> framing = WriteEndingAt(
      pair, queue, 10 * frames[0].size() + 17, [&](OutputQueue& q) {
        q.PushRun(1, run);
        q.PushRun(2, other);
      });
  ASSERT_TRUE(framing.has_value());
  queue.Clear();
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
  EXPECT_EQ(queue.TombstoneCountForTest(), 0u);
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.Queued(2).messages, 0u);
  EXPECT_EQ(run.use_count(), 1);
  EXPECT_EQ(other.use_count(), 1);
  // Usable again afterwards.
  pair.ReadBytes();
  queue.PushRun(2, other);
  EXPECT_EQ(queue.Queued(2).messages, 5u);
  ExpectStream(pair.WriteAllBytes(queue), Join(StampedFrames(*other, 2)));
}

TEST(OutputQueueTest, DropsAcrossInterleavedRunsCompactAndKeepTheRest) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  OutputQueue queue;
  // A frame written in part holds the front, so the tombstones stay in the
  // middle until the queue is compacted.
  wire::Frame front =
      MakeFrame(wire::Kind::kReply, 1, std::string(256 << 10, 'f'));
  std::string expected(front.bytes());
  queue.Push(std::move(front));
  absl::StatusOr<size_t> written = queue.Write(pair.writer());
  ASSERT_TRUE(written.ok()) << written.status();
  ASSERT_GT(*written, 0u);
  ASSERT_LT(*written, expected.size());

  // Every message queued, in order, with the run it came in.
  struct Item {
    uint64_t subscription;
    int run;
    std::string bytes;
    bool dropped = false;
  };
  std::vector<Item> all;
  // Per subscription, the messages not yet dropped (indexes into `all`).
  std::deque<size_t> waiting[3];
  int runs = 0;
  auto push_runs = [&](int count, absl::string_view tag) {
    for (int i = 0; i < count; ++i) {
      for (uint64_t subscription : {1, 2}) {
        std::shared_ptr<const wire::PublishRun> run =
            MakeRun(Payloads(absl::StrCat(tag, subscription, ".", i, "."), 3));
        queue.PushRun(subscription, run);
        ++runs;
        for (std::string& frame : StampedFrames(*run, subscription)) {
          waiting[subscription].push_back(all.size());
          all.push_back({subscription, runs, std::move(frame)});
        }
      }
    }
  };
  auto check_queued = [&](uint64_t subscription) {
    size_t bytes = 0;
    for (size_t i : waiting[subscription]) bytes += all[i].bytes.size();
    EXPECT_EQ(queue.Queued(subscription).messages,
              waiting[subscription].size());
    EXPECT_EQ(queue.Queued(subscription).bytes, bytes);
  };
  // Entries that hold something: the front and every run with a message
  // left.
  auto live_entries = [&] {
    std::set<int> live;
    for (const Item& item : all) {
      if (!item.dropped) live.insert(item.run);
    }
    return 1 + live.size();
  };
  int compactions = 0;
  auto drop = [&](uint64_t subscription) {
    ASSERT_FALSE(waiting[subscription].empty());
    Item& oldest = all[waiting[subscription].front()];
    waiting[subscription].pop_front();
    const size_t tombstones = queue.TombstoneCountForTest();
    ASSERT_EQ(queue.DropOldest(subscription), oldest.bytes.size());
    oldest.dropped = true;
    if (queue.TombstoneCountForTest() < tombstones) ++compactions;
    check_queued(1);
    check_queued(2);
    const size_t live = live_entries();
    ASSERT_EQ(queue.EntryCountForTest() - queue.TombstoneCountForTest(), live);
    // Tombstones never outnumber the live entries by much.
    ASSERT_LE(queue.TombstoneCountForTest(),
              std::max(live, OutputQueue::kMinTombstonesToCompact));
  };

  push_runs(150, "a");
  // Subscription 1 loses most of its runs, subscription 2 a third, and
  // some drops end inside a run.
  for (int i = 0; i < 400; ++i) {
    drop(1);
    if (i % 3 == 0) drop(2);
  }
  EXPECT_GT(compactions, 0);
  // Links rebuilt by compactions still lead to the newest.
  push_runs(20, "b");
  for (int i = 0; i < 100; ++i) {
    drop(2);
    if (i % 2 == 0) drop(1);
  }

  for (const Item& item : all) {
    if (!item.dropped) expected += item.bytes;
  }
  std::string got = pair.ReadBytes();
  got += pair.WriteAllBytes(queue);
  ExpectStream(got, expected);
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
  EXPECT_EQ(queue.Queued(1).messages, 0u);
  EXPECT_EQ(queue.Queued(2).messages, 0u);
}

// Runs, single messages and owned frames of three subscriptions, with
// drops, partial writes into a small socket buffer and reads in a random
// order, against a model: the stream is every frame not dropped, in the
// order queued; a message can be dropped (and counts in Queued()) until a
// byte of it was written.
TEST(OutputQueueTest, RunsAgreeWithAModelUnderRandomDropsAndPartialWrites) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  OutputQueue queue;
  std::mt19937 random(20261121);
  auto uniform = [&](size_t low, size_t high) {
    return std::uniform_int_distribution<size_t>(low, high)(random);
  };
  struct Item {
    uint64_t subscription = 0;  // 0 for an owned frame
    std::string bytes;
    bool dropped = false;
  };
  // Items not yet fully written, from the stream offset `pending_start`;
  // the bytes of those before them make `expected`.
  std::deque<Item> pending;
  size_t pending_start = 0;
  std::string expected;
  size_t written = 0;
  std::string got;
  constexpr uint64_t kSubscriptions = 3;

  auto retire = [&] {
    while (!pending.empty()) {
      Item& item = pending.front();
      if (!item.dropped) {
        if (pending_start + item.bytes.size() > written) break;
        pending_start += item.bytes.size();
        expected += item.bytes;
      }
      pending.pop_front();
    }
  };
  // Checks Queued() of every subscription against the model; returns the
  // subscription's oldest droppable message (nullptr if none).
  auto check = [&](uint64_t drop_from) -> Item* {
    size_t messages[kSubscriptions + 1] = {};
    size_t bytes[kSubscriptions + 1] = {};
    Item* oldest = nullptr;
    size_t start = pending_start;
    size_t queued_bytes = 0;
    for (Item& item : pending) {
      if (item.dropped) continue;
      const bool untouched = start >= written;
      queued_bytes += item.bytes.size();
      if (untouched && item.subscription != 0) {
        ++messages[item.subscription];
        bytes[item.subscription] += item.bytes.size();
        if (item.subscription == drop_from && oldest == nullptr) {
          oldest = &item;
        }
      }
      start += item.bytes.size();
    }
    EXPECT_EQ(queue.bytes(), queued_bytes - (written - pending_start));
    for (uint64_t s = 1; s <= kSubscriptions; ++s) {
      EXPECT_EQ(queue.Queued(s).messages, messages[s]) << "subscription " << s;
      EXPECT_EQ(queue.Queued(s).bytes, bytes[s]) << "subscription " << s;
    }
    return oldest;
  };

  for (int step = 0; step < 4000 && !::testing::Test::HasFailure(); ++step) {
    const size_t op = uniform(0, 99);
    const uint64_t subscription = uniform(1, kSubscriptions);
    if (op < 25) {
      // Mostly small messages, some near the largest a run takes.
      const size_t payload_bytes =
          uniform(0, 4) == 0 ? uniform(150, 900) : uniform(0, 150);
      std::shared_ptr<const wire::PublishRun> run = MakeRun(Payloads(
          absl::StrCat("s", step, "."), uniform(2, 30), payload_bytes));
      queue.PushRun(subscription, run);
      for (std::string& frame : StampedFrames(*run, subscription)) {
        pending.push_back({subscription, std::move(frame)});
      }
    } else if (op < 35) {
      std::shared_ptr<const wire::Frame> message = MakeMessage(std::string(
          uniform(0, 3) == 0 ? uniform(300, 3000) : uniform(0, 50), 'm'));
      queue.PushMessage(subscription, message);
      pending.push_back(
          {subscription, Stamped(message->bytes(), subscription)});
    } else if (op < 40) {
      wire::Frame frame = MakeFrame(wire::Kind::kReply, step,
                                    std::string(uniform(0, 2000), 'o'));
      pending.push_back({0, std::string(frame.bytes())});
      queue.Push(std::move(frame));
    } else if (op < 75) {
      Item* oldest = check(subscription);
      const size_t dropped = queue.DropOldest(subscription);
      if (oldest == nullptr) {
        EXPECT_EQ(dropped, 0u) << "step " << step;
      } else {
        EXPECT_EQ(dropped, oldest->bytes.size()) << "step " << step;
        oldest->dropped = true;
      }
    } else if (op < 90) {
      absl::StatusOr<size_t> n = queue.Write(pair.writer());
      ASSERT_TRUE(n.ok()) << n.status();
      written += *n;
      retire();
    } else {
      got += pair.ReadBytes();
    }
    check(0);
  }
  got += pair.WriteAllBytes(queue);
  written = got.size();
  retire();
  EXPECT_TRUE(pending.empty());
  ExpectStream(got, expected);
  EXPECT_EQ(queue.EntryCountForTest(), 0u);
}

// A messages_dropped EVENT for `subscription` saying `count`, as the
// router builds it (the queue only cares that it is an owned frame).
wire::Frame DropReport(uint64_t subscription, uint64_t count) {
  v1::Header header;
  v1::Event::MessagesDropped* dropped =
      header.mutable_event()->mutable_messages_dropped();
  dropped->set_subscription_id(subscription);
  dropped->set_count(count);
  dropped->set_total(count);
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kEvent;
  return wire::Frame::Build(prefix, header.SerializeAsString(), "");
}

// "M<subscription>:<payload>" for a MESSAGE, "D<subscription>:<count>" for
// a drop report, "F<request id>" for another frame.
std::vector<std::string> Describe(const std::vector<Received>& frames) {
  std::vector<std::string> out;
  for (const Received& frame : frames) {
    if (frame.prefix.kind == wire::Kind::kMessage) {
      out.push_back(
          absl::StrCat("M", frame.prefix.request_id, ":", frame.payload));
      continue;
    }
    v1::Header header;
    if (frame.prefix.kind == wire::Kind::kEvent &&
        header.ParseFromString(frame.header) &&
        header.event().has_messages_dropped()) {
      const auto& dropped = header.event().messages_dropped();
      out.push_back(
          absl::StrCat("D", dropped.subscription_id(), ":", dropped.count()));
      continue;
    }
    out.push_back(absl::StrCat("F", frame.prefix.request_id));
  }
  return out;
}

TEST(OutputQueueTest, AnUnsentDropReportIsReplacedInPlace) {
  SocketPair pair;
  OutputQueue queue;
  EXPECT_FALSE(queue.HasUnsentDropReport(1));
  EXPECT_FALSE(queue.PushDropReport(1, DropReport(1, 1)));
  queue.PushMessage(1, MakeMessage("a"));
  EXPECT_FALSE(queue.PushDropReport(2, DropReport(2, 5)));  // its own
  queue.PushMessage(1, MakeMessage("b"));
  EXPECT_TRUE(queue.HasUnsentDropReport(1));
  EXPECT_TRUE(queue.HasUnsentDropReport(2));
  EXPECT_FALSE(queue.HasUnsentDropReport(3));

  // A longer report (a count of 1000 takes more varint bytes).
  const size_t before = queue.bytes();
  const wire::Frame longer = DropReport(1, 1000);
  const size_t growth = longer.bytes().size() - DropReport(1, 1).bytes().size();
  ASSERT_GT(growth, 0u);
  EXPECT_TRUE(queue.PushDropReport(1, DropReport(1, 1000)));
  EXPECT_EQ(queue.bytes(), before + growth);
  EXPECT_EQ(queue.Queued(1).messages, 2u);

  EXPECT_EQ(Describe(pair.WriteAll(queue)),
            (std::vector<std::string>{"D1:1000", "M1:a", "D2:5", "M1:b"}));
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_FALSE(queue.HasUnsentDropReport(1));
  EXPECT_FALSE(queue.HasUnsentDropReport(2));

  // Written, a report is never replaced: the next one goes at the end.
  queue.PushMessage(1, MakeMessage("c"));
  EXPECT_FALSE(queue.PushDropReport(1, DropReport(1, 7)));
  EXPECT_EQ(Describe(pair.WriteAll(queue)),
            (std::vector<std::string>{"M1:c", "D1:7"}));
}

TEST(OutputQueueTest, ADropReportWrittenInPartIsNotReplaced) {
  SocketPair pair;
  pair.ShrinkSendBuffer();
  OutputQueue queue;
  // A large frame fills the socket; the report behind it is written in
  // part or not at all, depending on where the socket stops.
  const std::string big(1 << 20, 'x');
  queue.Push(MakeFrame(wire::Kind::kReply, 9, big));
  queue.PushDropReport(1, DropReport(1, 1));
  queue.PushMessage(1, MakeMessage("a"));
  // Write until the report has started: the bytes left are at most the
  // report's and the message's.
  const size_t report_and_message = queue.bytes() - (big.size() + 40 + 4);
  std::vector<Received> frames;
  while (queue.bytes() > report_and_message) {
    ASSERT_TRUE(queue.Write(pair.writer()).ok());
    for (Received& frame : pair.Drain()) frames.push_back(std::move(frame));
  }
  if (queue.bytes() < report_and_message) {
    // Some of the report went out: it can no longer change.
    EXPECT_FALSE(queue.HasUnsentDropReport(1));
    EXPECT_FALSE(queue.PushDropReport(1, DropReport(1, 2)));
  } else {
    // The write stopped exactly before it: it still can.
    EXPECT_TRUE(queue.PushDropReport(1, DropReport(1, 2)));
  }
  for (Received& frame : pair.WriteAll(queue)) {
    frames.push_back(std::move(frame));
  }
  const std::vector<std::string> described = Describe(frames);
  ASSERT_GE(described.size(), 3u);
  EXPECT_EQ(described[0], "F9");
  EXPECT_EQ(frames[0].payload, big);
  // Every report written is whole, and together they count both drops.
  uint64_t counted = 0;
  for (const std::string& item : described) {
    if (item == "D1:1") counted += 1;
    if (item == "D1:2") counted += 2;
  }
  EXPECT_TRUE(counted == 2 || counted == 3) << counted;
  EXPECT_EQ(pair.pending_bytes(), 0u);
}

TEST(OutputQueueTest, DropReportsKeepTheirPlaceThroughCompaction) {
  SocketPair pair;
  OutputQueue queue;
  // Subscription 1 stalls at 4 messages, dropping its oldest for every new
  // one, and its report takes each drop: the queue never holds more than
  // one report for it, however long this goes on.
  queue.PushMessage(2, MakeMessage("first"));
  constexpr size_t kLimit = 4;
  uint64_t dropped = 0;
  for (int i = 0; i < 5000; ++i) {
    if (i == 2500) queue.PushDropReport(3, DropReport(3, 1));
    queue.PushMessage(1, MakeMessage(absl::StrCat(i)));
    while (queue.Queued(1).messages > kLimit) {
      ASSERT_GT(queue.DropOldest(1), 0u);
      ++dropped;
    }
    if (dropped > 0) queue.PushDropReport(1, DropReport(1, dropped));
    ASSERT_LE(queue.EntryCountForTest() - queue.TombstoneCountForTest(),
              1 + kLimit + 2);
  }
  // The report went in after the fifth message, when the first drop came,
  // and stayed there through every compaction; the messages before and
  // after it were dropped since.
  EXPECT_EQ(Describe(pair.WriteAll(queue)),
            (std::vector<std::string>{"M2:first", "D1:4996", "D3:1", "M1:4996",
                                      "M1:4997", "M1:4998", "M1:4999"}));
}

// Issue 12 (output_queue_fuzz): DropMessages() forgot every drop report,
// so a report still unwritten was no longer replaced, against the contract
// of HasUnsentDropReport() and PushDropReport().
TEST(OutputQueueTest, Issue12DropMessagesKeepsAnUnsentDropReportReplaceable) {
  SocketPair pair;
  OutputQueue queue;
  queue.PushMessage(1, MakeMessage("a"));  // removed: the report moves up
  queue.PushMessage(2, MakeMessage("b"));
  queue.PushDropReport(1, DropReport(1, 1));
  queue.PushMessage(1, MakeMessage("c"));
  queue.Push(MakeFrame(wire::Kind::kReply, 7, "reply"));  // after the report
  queue.PushDropReport(2, DropReport(2, 3));

  queue.DropMessages();
  EXPECT_TRUE(queue.HasUnsentDropReport(1));
  EXPECT_TRUE(queue.HasUnsentDropReport(2));
  EXPECT_FALSE(queue.HasUnsentDropReport(3));
  // Each replaces its own report, not the frame now at its old position.
  EXPECT_TRUE(queue.PushDropReport(1, DropReport(1, 2)));
  EXPECT_TRUE(queue.PushDropReport(2, DropReport(2, 4)));
  EXPECT_EQ(Describe(pair.WriteAll(queue)),
            (std::vector<std::string>{"D1:2", "F7", "D2:4"}));
  EXPECT_FALSE(queue.HasUnsentDropReport(1));
  EXPECT_FALSE(queue.HasUnsentDropReport(2));
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
