// SPDX-License-Identifier: MIT
//
// Model-based libFuzzer target for server::OutputQueue, a session's queue
// of frames to write. The input is a sequence of operations (Step()) on the
// queue and on a reference model written here:
//   0 Push an owned frame            5 DropMessages
//   1 PushMessage for subscription   6 Write to a non-blocking socketpair
//     1-3 (a new shared message, or    whose send buffer is small
//     the last one again)            7 read some bytes from its other end
//   2 PushRun of 2-4 MESSAGE frames  8 Clear
//   3 PushDropReport
//   4 DropOldest
// The model is a list of entries (the bytes each will write, its
// subscription if a message, whether a byte of it was written); Write()
// takes from its front what the queue says it wrote. Properties, besides no
// crash, leak or sanitizer report, checked after every operation:
//   - bytes(), empty(), Queued() of every subscription and
//     HasUnsentDropReport() agree with the model, and fds() is 0;
//   - DropOldest() returns the model's oldest unwritten message's size, and
//     PushDropReport() replaces exactly when the model's last report for the
//     subscription is wholly unwritten;
//   - the bytes read from the peer are exactly the bytes the model says were
//     written, in order: every message carries its own subscription's
//     request id, none is both dropped and delivered, and a replaced drop
//     report never reaches the peer.
// Frames carry no descriptors here: checking that each arrives with its own
// frame would need the reads to track SCM_RIGHTS per batch; the unit tests
// (output_queue_test.cc) cover descriptor passing.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "daemon/server/output_queue.h"
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
  size_t written = 0;  // bytes of it already written
};

class OutputQueueFuzzer {
 public:
  explicit OutputQueueFuzzer(fuzz::InputReader& in) : in_(in) {
    int pair[2];
    SB_FUZZ_CHECK(::socketpair(AF_UNIX,
                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                               pair) == 0);
    writer_ = Fd(pair[0]);
    reader_ = Fd(pair[1]);
    const int size = 4096;  // the kernel doubles it and has a minimum
    ::setsockopt(writer_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    ::setsockopt(reader_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }

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
    while (read_ < expected_.size() && Drained()) {
    }
    SB_FUZZ_CHECK(read_ == expected_.size());
    queue_.Clear();
  }

 private:
  uint64_t Subscription() { return 1 + in_.Byte() % kSubscriptions; }

  // A frame of `kind` with a payload of a size from the input: mostly
  // small, now and then above the 256-byte copy threshold.
  wire::Frame MakeFrame(wire::Kind kind, uint64_t request_id) {
    wire::Prefix prefix;
    prefix.kind = kind;
    prefix.request_id = request_id;
    prefix.sender = ++frame_number_;
    const uint8_t size = in_.Byte();
    const size_t payload = (size & 0x80) != 0 ? (size & 0x7f) * 97 : size;
    return wire::Frame::Build(prefix, "",
                              std::string(payload, static_cast<char>(size)));
  }

  std::shared_ptr<const wire::Frame> MakeMessage() {
    v1::Header header;
    header.mutable_publish()->set_topic("video.frames");
    wire::Prefix prefix;
    prefix.kind = wire::Kind::kMessage;
    prefix.sender = ++frame_number_;
    const uint8_t size = in_.Byte();
    const size_t payload = (size & 0x80) != 0 ? (size & 0x7f) * 97 : size;
    return std::make_shared<const wire::Frame>(wire::Frame::Build(
        prefix, header, std::string(payload, static_cast<char>(size))));
  }

  static std::string Stamped(absl::string_view bytes, uint64_t request_id) {
    std::string copy(bytes);
    wire::StampRequestId(copy.data(), request_id);
    return copy;
  }

  void Step() {
    switch (in_.Byte() % 9) {
      case 0: {
        wire::Frame frame = MakeFrame(wire::Kind::kReply, in_.Byte());
        model_.push_back(ModelEntry{std::string(frame.bytes())});
        queue_.Push(std::move(frame));
        return;
      }
      case 1: {
        const uint64_t subscription = Subscription();
        if (last_message_ == nullptr || (in_.Byte() & 1) == 0) {
          last_message_ = MakeMessage();
        }
        model_.push_back(ModelEntry{
            Stamped(last_message_->bytes(), subscription), subscription});
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
          if (it->subscription == subscription && it->written == 0) {
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
          return entry.subscription != 0 && entry.written == 0;
        });
        return;
      case 6:
        return Write();
      case 7:
        return Read(1 + in_.U16() % 20000);
      case 8:
        queue_.Clear();
        model_.clear();
        last_report_.clear();
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
      if (&entry == it->second) return entry.written == 0 ? &entry : nullptr;
    }
    return nullptr;
  }

  void Write() {
    const absl::StatusOr<size_t> written = queue_.Write(writer_.get());
    SB_FUZZ_CHECK(written.ok());
    size_t left = *written;
    while (left > 0) {
      SB_FUZZ_CHECK(!model_.empty());
      ModelEntry& front = model_.front();
      const size_t take = std::min(left, front.bytes.size() - front.written);
      expected_.append(front.bytes, front.written, take);
      front.written += take;
      left -= take;
      if (front.written == front.bytes.size()) {
        for (auto it = last_report_.begin(); it != last_report_.end();) {
          it = it->second == &front ? last_report_.erase(it) : std::next(it);
        }
        model_.pop_front();
      }
    }
  }

  void Read(size_t limit) {
    while (true) {
      const ssize_t n =
          ::read(reader_.get(), buffer_, std::min(limit, sizeof(buffer_)));
      if (n < 0) {
        SB_FUZZ_CHECK(errno == EAGAIN || errno == EINTR);
        if (errno == EAGAIN) return;
        continue;
      }
      SB_FUZZ_CHECK(n > 0);
      const auto got = static_cast<size_t>(n);
      SB_FUZZ_CHECK(read_ + got <= expected_.size());
      SB_FUZZ_CHECK(absl::string_view(buffer_, got) ==
                    absl::string_view(expected_).substr(read_, got));
      read_ += got;
      return;
    }
  }

  // Reads what the peer has; whether it read anything.
  bool Drained() {
    const size_t before = read_;
    Read(sizeof(buffer_));
    return read_ > before;
  }

  void CheckState() {
    size_t bytes = 0;
    for (const ModelEntry& entry : model_) {
      bytes += entry.bytes.size() - entry.written;
    }
    SB_FUZZ_CHECK(queue_.bytes() == bytes);
    SB_FUZZ_CHECK(queue_.fds() == 0);
    SB_FUZZ_CHECK(queue_.empty() == model_.empty());
    for (uint64_t subscription = 1; subscription <= kSubscriptions;
         ++subscription) {
      core::Outbox::Queued want;
      for (const ModelEntry& entry : model_) {
        if (entry.subscription != subscription || entry.written != 0) continue;
        ++want.messages;
        want.bytes += entry.bytes.size();
      }
      const core::Outbox::Queued queued = queue_.Queued(subscription);
      SB_FUZZ_CHECK(queued.messages == want.messages);
      SB_FUZZ_CHECK(queued.bytes == want.bytes);
      SB_FUZZ_CHECK(queue_.HasUnsentDropReport(subscription) ==
                    (UnsentReport(subscription) != nullptr));
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
  std::string expected_;  // every byte the model says was written
  size_t read_ = 0;       // of expected_, read from the peer so far
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
