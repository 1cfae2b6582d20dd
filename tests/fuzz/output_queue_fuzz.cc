// SPDX-License-Identifier: MIT
//
// Model-based libFuzzer target for server::OutputQueue, a session's queue
// of frames to write. The input is a sequence of operations (Step()) on the
// queue and on a reference model written here:
//   0 Push an owned frame            5 DropMessages
//   1 PushMessage for subscription   6 Write to a non-blocking socketpair
//     1-3 (a new shared message, or    whose send buffer is small
//     the last one again)            7 read some bytes from its other end
//   2 PushRun of 2-4 MESSAGE frames  8 Clear (the session ends: the next
//   3 PushDropReport                   operations use a new socketpair)
//   4 DropOldest
// Owned frames and shared messages carry 0-3 memfd descriptors (a shared
// message's go once with each entry that holds it); runs and drop reports
// carry none, as in the broker.
// The model is a list of entries (the bytes each will write, its
// subscription if a message, its descriptors, how much of it was written,
// whether it is committed); Write() takes from its front what the queue says
// it wrote. An entry is committed once a byte of it is written or a batch
// that wrote something passed descriptors of a frame after it. Where that
// batch ended is the queue's affair (iovec and staging limits), so after a
// Write() the model takes the shortest extension of the committed prefix,
// ending just after a frame with descriptors, that agrees with the queue's
// Queued() and HasUnsentDropReport(); there must be one. (Two that agree
// differ only in owned frames that nothing drops or replaces, so which one
// it takes does not matter.) Properties, besides no crash, leak or
// sanitizer report, checked after every operation:
//   - bytes(), fds(), empty(), Queued() of every subscription and
//     HasUnsentDropReport() agree with the model;
//   - DropOldest() returns the model's oldest uncommitted message's size,
//     and PushDropReport() replaces exactly when the model's last report for
//     the subscription is uncommitted;
//   - the bytes read from the peer are exactly the bytes the model says were
//     written, in order: every message carries its own subscription's
//     request id, none is both dropped and delivered, and a replaced drop
//     report never reaches the peer;
//   - descriptors arrive in frame order, each frame's own (the same memfd)
//     by the time its last byte is read, none twice, none left over.
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "daemon/server/output_queue.h"
#include "io/fd_passing.h"
#include "switchboard/v1/header.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "wire/frame.h"
#include "wire/frame_decoder.h"
#include "wire/prefix.h"
#include "wire/publish_run.h"

namespace switchboard::server {
namespace {

constexpr uint64_t kSubscriptions = 3;

struct ModelEntry {
  std::string bytes;          // as written, request id stamped
  uint64_t subscription = 0;  // a message's; 0 for other frames
  bool is_report = false;
  std::vector<ino_t> fds = {};  // the inodes of an owned frame's memfds
  size_t written = 0;           // bytes of it already written
  bool committed = false;       // see the file comment
};

// A frame whose first byte was written: where it ends in the stream, and
// the descriptors that must have arrived by then.
struct SentFrame {
  size_t end = 0;
  std::vector<ino_t> fds;
};

ino_t InodeOf(int fd) {
  struct stat st {};
  SB_FUZZ_CHECK(::fstat(fd, &st) == 0);
  return st.st_ino;
}

// Tallies of what the model holds uncommitted, per subscription.
struct Tally {
  core::Outbox::Queued queued[4];
  bool unsent_report[4] = {};
};

class OutputQueueFuzzer {
 public:
  explicit OutputQueueFuzzer(fuzz::InputReader& in) : in_(in) { Connect(); }

  void Run() {
    for (int steps = 0; steps < 200 && !in_.empty(); ++steps) {
      Step();
      CheckState();
    }
    // Everything left goes out: write and read until the queue is empty.
    for (int rounds = 0; rounds < 10000 && !queue_.empty(); ++rounds) {
      Write();
      Read(sizeof(buffer_));
    }
    SB_FUZZ_CHECK(queue_.empty() && model_.empty());
    DrainPeer();
    SB_FUZZ_CHECK(read_ == expected_.size());
    SB_FUZZ_CHECK(sent_.empty() && received_fds_.empty());
    queue_.Clear();
  }

 private:
  uint64_t Subscription() { return 1 + in_.Byte() % kSubscriptions; }

  // A new session's socket: a non-blocking socketpair with small buffers.
  void Connect() {
    int pair[2];
    SB_FUZZ_CHECK(::socketpair(AF_UNIX,
                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                               pair) == 0);
    writer_ = Fd(pair[0]);
    reader_ = Fd(pair[1]);
    const int size = 4096;  // the kernel doubles it and has a minimum
    ::setsockopt(writer_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    ::setsockopt(reader_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    expected_.clear();
    read_ = 0;
    sent_.clear();
    received_fds_.clear();
  }

  // A frame of `kind` with a payload of a size from the input: mostly
  // small, now and then above the 256-byte copy threshold. It carries
  // `fd_count` new memfds, whose inodes go to `inodes`.
  wire::Frame MakeFrame(wire::Kind kind, uint64_t request_id,
                        size_t fd_count = 0,
                        std::vector<ino_t>* inodes = nullptr) {
    wire::Prefix prefix;
    prefix.kind = kind;
    prefix.request_id = request_id;
    prefix.sender = ++frame_number_;
    prefix.fd_count = static_cast<uint8_t>(fd_count);
    const uint8_t size = in_.Byte();
    const size_t payload = (size & 0x80) != 0 ? (size & 0x7f) * 97 : size;
    wire::Frame frame = wire::Frame::Build(
        prefix, "", std::string(payload, static_cast<char>(size)));
    if (fd_count > 0) frame.set_fds(MakeFds(fd_count, *inodes));
    return frame;
  }

  // A published MESSAGE with `fd_count` new memfds, whose inodes go to
  // `inodes`.
  std::shared_ptr<const wire::Frame> MakeMessage(size_t fd_count,
                                                 std::vector<ino_t>& inodes) {
    v1::Header header;
    header.mutable_publish()->set_topic("video.frames");
    wire::Prefix prefix;
    prefix.kind = wire::Kind::kMessage;
    prefix.sender = ++frame_number_;
    prefix.fd_count = static_cast<uint8_t>(fd_count);
    const uint8_t size = in_.Byte();
    const size_t payload = (size & 0x80) != 0 ? (size & 0x7f) * 97 : size;
    wire::Frame frame = wire::Frame::Build(
        prefix, header, std::string(payload, static_cast<char>(size)));
    frame.set_fds(MakeFds(fd_count, inodes));
    return std::make_shared<const wire::Frame>(std::move(frame));
  }

  static std::vector<Fd> MakeFds(size_t count, std::vector<ino_t>& inodes) {
    std::vector<Fd> fds;
    for (size_t i = 0; i < count; ++i) {
      fds.emplace_back(::memfd_create("output_queue_fuzz", MFD_CLOEXEC));
      SB_FUZZ_CHECK(fds.back().valid());
      inodes.push_back(InodeOf(fds.back().get()));
    }
    return fds;
  }

  static std::string Stamped(absl::string_view bytes, uint64_t request_id) {
    std::string copy(bytes);
    wire::StampRequestId(copy.data(), request_id);
    return copy;
  }

  void Step() {
    switch (in_.Byte() % 9) {
      case 0: {
        // The low six bits are the request id, the top two the number of
        // descriptors.
        const uint8_t id = in_.Byte();
        ModelEntry entry;
        wire::Frame frame =
            MakeFrame(wire::Kind::kReply, id & 0x3f, id >> 6, &entry.fds);
        entry.bytes = std::string(frame.bytes());
        model_.push_back(std::move(entry));
        queue_.Push(std::move(frame));
        return;
      }
      case 1: {
        const uint64_t subscription = Subscription();
        // Bit 0: the last message again; bits 1-2: the new one's number of
        // descriptors.
        const uint8_t choice = in_.Byte();
        if (last_message_ == nullptr || (choice & 1) == 0) {
          last_message_inodes_.clear();
          last_message_ = MakeMessage((choice >> 1) & 3, last_message_inodes_);
        }
        model_.push_back(
            ModelEntry{Stamped(last_message_->bytes(), subscription),
                       subscription, false, last_message_inodes_});
        queue_.PushMessage(subscription, last_message_);
        return;
      }
      case 2:
        return PushRun();
      case 3: {
        const uint64_t subscription = Subscription();
        wire::Frame report = MakeFrame(wire::Kind::kEvent, 0);
        std::string bytes(report.bytes());
        ModelEntry* unsent = UnsentReport(subscription);
        const bool replaced =
            queue_.PushDropReport(subscription, std::move(report));
        SB_FUZZ_CHECK(replaced == (unsent != nullptr));
        if (unsent != nullptr) {
          unsent->bytes = std::move(bytes);
        } else {
          model_.push_back(ModelEntry{std::move(bytes), 0, true});
          last_report_[subscription] = &model_.back();
        }
        return;
      }
      case 4: {
        const uint64_t subscription = Subscription();
        size_t want = 0;
        for (auto it = model_.begin(); it != model_.end(); ++it) {
          if (it->subscription == subscription && !it->committed) {
            want = it->bytes.size();
            model_.erase(it);
            break;
          }
        }
        SB_FUZZ_CHECK(queue_.DropOldest(subscription) == want);
        return;
      }
      case 5:
        queue_.DropMessages();
        std::erase_if(model_, [](const ModelEntry& entry) {
          return entry.subscription != 0 && !entry.committed;
        });
        return;
      case 6:
        return Write();
      case 7:
        return Read(1 + in_.U16() % 20000);
      case 8:
        // The session ends: its peer reads what was written (a frame cut
        // short leaves its descriptors unclaimed), and the next operations
        // go to a new one.
        queue_.Clear();
        model_.clear();
        last_report_.clear();
        DrainPeer();
        SB_FUZZ_CHECK(read_ == expected_.size());
        Connect();
        return;
    }
  }

  // Two to four MESSAGE frames of one subscription, taken as a run the way
  // the session's decoder would.
  void PushRun() {
    const uint64_t subscription = Subscription();
    v1::Header header;
    header.mutable_publish()->set_topic("video.run");
    const size_t count = 2 + in_.Byte() % 3;
    std::string bytes;
    for (size_t i = 0; i < count; ++i) {
      wire::Prefix prefix;
      prefix.kind = wire::Kind::kMessage;
      prefix.request_id = 77;
      prefix.sender = ++frame_number_;
      absl::StrAppend(
          &bytes,
          wire::Frame::Build(prefix, header, std::string(in_.Byte() % 200, 'r'))
              .bytes());
    }
    wire::FrameDecoder decoder{wire::Limits()};
    decoder.Append(bytes);
    std::optional<wire::PublishRun> run =
        decoder.TakePublishRun(wire::Kind::kMessage);
    SB_FUZZ_CHECK(run.has_value() && run->count() == count);
    for (size_t offset = 0; offset < bytes.size();) {
      const size_t size = wire::PublishRun::FrameBytesAt(bytes.data() + offset);
      model_.push_back(ModelEntry{
          Stamped(absl::string_view(bytes).substr(offset, size), subscription),
          subscription});
      offset += size;
    }
    queue_.PushRun(subscription,
                   std::make_shared<const wire::PublishRun>(std::move(*run)));
  }

  ModelEntry* UnsentReport(uint64_t subscription) {
    auto it = last_report_.find(subscription);
    if (it == last_report_.end()) return nullptr;
    for (ModelEntry& entry : model_) {
      if (&entry == it->second) return entry.committed ? nullptr : &entry;
    }
    return nullptr;
  }

  // What the model holds uncommitted.
  Tally Count() {
    Tally tally;
    for (const ModelEntry& entry : model_) {
      if (entry.committed || entry.subscription == 0) continue;
      ++tally.queued[entry.subscription].messages;
      tally.queued[entry.subscription].bytes += entry.bytes.size();
    }
    for (uint64_t subscription = 1; subscription <= kSubscriptions;
         ++subscription) {
      tally.unsent_report[subscription] = UnsentReport(subscription) != nullptr;
    }
    return tally;
  }

  bool AgreesWithQueue(const Tally& tally) const {
    for (uint64_t subscription = 1; subscription <= kSubscriptions;
         ++subscription) {
      const core::Outbox::Queued queued = queue_.Queued(subscription);
      if (queued.messages != tally.queued[subscription].messages ||
          queued.bytes != tally.queued[subscription].bytes ||
          queue_.HasUnsentDropReport(subscription) !=
              tally.unsent_report[subscription]) {
        return false;
      }
    }
    return true;
  }

  // After a Write() that wrote something: commits what the last batch's
  // descriptors committed (see the file comment).
  void CommitPassedDescriptors() {
    Tally tally = Count();
    if (AgreesWithQueue(tally)) return;
    size_t cut = 0;
    size_t index = 0;
    for (ModelEntry& entry : model_) {
      ++index;
      if (entry.committed) continue;
      if (entry.subscription != 0) {
        --tally.queued[entry.subscription].messages;
        tally.queued[entry.subscription].bytes -= entry.bytes.size();
      }
      for (const auto& [subscription, report] : last_report_) {
        if (report == &entry) tally.unsent_report[subscription] = false;
      }
      if (!entry.fds.empty() && AgreesWithQueue(tally)) {
        cut = index;
        break;
      }
    }
    SB_FUZZ_CHECK(cut > 0);
    for (ModelEntry& entry : model_) {
      if (cut-- == 0) break;
      entry.committed = true;
    }
  }

  void Write() {
    const absl::StatusOr<size_t> written = queue_.Write(writer_.get());
    SB_FUZZ_CHECK(written.ok());
    size_t left = *written;
    while (left > 0) {
      SB_FUZZ_CHECK(!model_.empty());
      ModelEntry& front = model_.front();
      if (front.written == 0) {
        sent_.push_back(
            SentFrame{expected_.size() + front.bytes.size(), front.fds});
      }
      const size_t take = std::min(left, front.bytes.size() - front.written);
      expected_.append(front.bytes, front.written, take);
      front.written += take;
      front.committed = true;
      left -= take;
      if (front.written == front.bytes.size()) {
        for (auto it = last_report_.begin(); it != last_report_.end();) {
          it = it->second == &front ? last_report_.erase(it) : std::next(it);
        }
        model_.pop_front();
      }
    }
    if (*written > 0) CommitPassedDescriptors();
  }

  // One recvmsg of at most `limit` bytes; each frame it completes must
  // find its own descriptors first in line.
  void Read(size_t limit) {
    const absl::StatusOr<io::Received> received = io::RecvWithFds(
        reader_.get(),
        absl::MakeSpan(buffer_, std::min(limit, sizeof(buffer_))),
        received_fds_);
    SB_FUZZ_CHECK(received.ok());
    SB_FUZZ_CHECK(!received->end_of_stream && !received->fds_truncated);
    const size_t got = received->bytes;
    SB_FUZZ_CHECK(read_ + got <= expected_.size());
    SB_FUZZ_CHECK(absl::string_view(buffer_, got) ==
                  absl::string_view(expected_).substr(read_, got));
    read_ += got;
    while (!sent_.empty() && sent_.front().end <= read_) {
      for (const ino_t inode : sent_.front().fds) {
        SB_FUZZ_CHECK(!received_fds_.empty());
        SB_FUZZ_CHECK(InodeOf(received_fds_.front().get()) == inode);
        received_fds_.erase(received_fds_.begin());
      }
      sent_.pop_front();
    }
  }

  // Reads everything the peer has.
  void DrainPeer() {
    while (read_ < expected_.size()) {
      const size_t before = read_;
      Read(sizeof(buffer_));
      if (read_ == before) return;
    }
  }

  void CheckState() {
    size_t bytes = 0;
    size_t fds = 0;
    for (const ModelEntry& entry : model_) {
      bytes += entry.bytes.size() - entry.written;
      fds += entry.fds.size();
    }
    SB_FUZZ_CHECK(queue_.bytes() == bytes);
    SB_FUZZ_CHECK(queue_.fds() == fds);
    SB_FUZZ_CHECK(queue_.empty() == model_.empty());
    const Tally tally = Count();
    for (uint64_t subscription = 1; subscription <= kSubscriptions;
         ++subscription) {
      const core::Outbox::Queued queued = queue_.Queued(subscription);
      SB_FUZZ_CHECK(queued.messages == tally.queued[subscription].messages);
      SB_FUZZ_CHECK(queued.bytes == tally.queued[subscription].bytes);
      SB_FUZZ_CHECK(queue_.HasUnsentDropReport(subscription) ==
                    tally.unsent_report[subscription]);
    }
  }

  fuzz::InputReader& in_;
  Fd writer_;
  Fd reader_;
  OutputQueue queue_;
  // A list: last_report_ points into it, and entries leave from the middle.
  std::list<ModelEntry> model_;
  std::map<uint64_t, ModelEntry*> last_report_;
  std::shared_ptr<const wire::Frame> last_message_;
  std::vector<ino_t> last_message_inodes_;
  std::string expected_;          // every byte the model says was written
  size_t read_ = 0;               // of expected_, read from the peer so far
  std::deque<SentFrame> sent_;    // started, not yet read to the end
  std::vector<Fd> received_fds_;  // arrived, not yet claimed by a frame
  char buffer_[64 << 10];
  uint64_t frame_number_ = 0;
};

}  // namespace
}  // namespace switchboard::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  switchboard::fuzz::InputReader in(data, size);
  switchboard::server::OutputQueueFuzzer(in).Run();
  return 0;
}
