// SPDX-License-Identifier: MIT
#include "daemon/server/output_queue.h"

#include <limits.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/log.h"
#include "io/fd_passing.h"

namespace switchboard::server {

size_t OutputQueue::EntryBytes() { return sizeof(Entry); }

size_t OutputQueue::memory() const {
  return empty() ? 0 : bytes_ + entries_.size() * EntryBytes();
}
namespace {

constexpr int kMaxIovecs = IOV_MAX;
// Pieces up to this size are copied into one staging buffer instead of
// getting an iovec each: the kernel copies a few long iovecs much faster
// than hundreds of tiny ones, and small messages are two tiny pieces each.
constexpr size_t kCoalesceBytes = 256;
constexpr size_t kStageBytes = 64 * 1024;

// The iovecs of one sendmsg. Owned by the loop thread for one batch: the
// kernel has copied the staged bytes once sendmsg returns.
class Gather {
 public:
  // Whether `pieces` more iovecs fit.
  bool HasRoom(int pieces) const { return count_ + pieces <= kMaxIovecs; }

  void Add(const char* data, size_t size) {
    if (size <= kCoalesceBytes && staged_ + size <= kStageBytes) {
      char* to = stage_ + staged_;
      std::memcpy(to, data, size);
      staged_ += size;
      if (count_ > 0 && static_cast<char*>(iov_[count_ - 1].iov_base) +
                                iov_[count_ - 1].iov_len ==
                            to) {
        iov_[count_ - 1].iov_len += size;
      } else {
        iov_[count_++] = iovec{to, size};
      }
    } else {
      iov_[count_++] = iovec{const_cast<char*>(data), size};
    }
    bytes_ += size;
  }

  // Copies `frame` (`size` bytes, at most PublishRun::kMaxFrameBytes) into the
  // staging buffer, stamps the copy's request id, and adds it less its first
  // `skip` bytes. False, adding nothing, if the staging buffer or the iovecs
  // are full.
  bool AddStamped(const char* frame, size_t size, size_t skip,
                  uint64_t request_id) {
    if (staged_ + size > kStageBytes) return false;
    char* to = stage_ + staged_;
    const bool joins =
        count_ > 0 && static_cast<char*>(iov_[count_ - 1].iov_base) +
                              iov_[count_ - 1].iov_len ==
                          to;
    if (!joins && count_ == kMaxIovecs) return false;
    std::memcpy(to, frame, size);
    wire::StampRequestId(to, request_id);
    if (skip > 0) {
      std::memmove(to, to + skip, size - skip);
      size -= skip;
    }
    staged_ += size;
    if (joins) {
      iov_[count_ - 1].iov_len += size;
    } else {
      iov_[count_++] = iovec{to, size};
    }
    bytes_ += size;
    return true;
  }

  absl::Span<const iovec> iovecs() const {
    return absl::MakeConstSpan(iov_, static_cast<size_t>(count_));
  }
  size_t bytes() const { return bytes_; }

 private:
  // One per thread: brokers in tests run on several loop threads.
  static thread_local char stage_[kStageBytes];
  iovec iov_[kMaxIovecs];
  int count_ = 0;
  size_t staged_ = 0;
  size_t bytes_ = 0;
};

thread_local char Gather::stage_[kStageBytes];

const std::vector<Fd>& NoFds() {
  static const std::vector<Fd>* const none = new std::vector<Fd>();
  return *none;
}

}  // namespace

void OutputQueue::Push(wire::Frame frame) {
  bytes_ += frame.bytes().size();
  fds_ += frame.fds().size();
  entries_.push_back(Entry{false, std::move(frame)});
}

bool OutputQueue::PushDropReport(uint64_t subscription, wire::Frame report) {
  SB_CHECK(report.fds().empty()) << "a drop report carries no descriptors";
  if (const std::optional<size_t> unsent = UnsentDropReport(subscription)) {
    auto& frame = std::get<wire::Frame>(entries_[*unsent].body);
    bytes_ -= frame.bytes().size();
    bytes_ += report.bytes().size();
    frame = std::move(report);
    return true;
  }
  drop_reports_[subscription] = base_ + entries_.size();
  Push(std::move(report));
  return false;
}

bool OutputQueue::HasUnsentDropReport(uint64_t subscription) const {
  return UnsentDropReport(subscription).has_value();
}

std::optional<size_t> OutputQueue::UnsentDropReport(
    uint64_t subscription) const {
  auto it = drop_reports_.find(subscription);
  if (it == drop_reports_.end()) return std::nullopt;
  const uint64_t position = it->second;
  if (position < base_ || position - base_ >= entries_.size()) {
    return std::nullopt;  // written and gone
  }
  const size_t index = position - base_;
  const Entry& entry = entries_[index];
  // Committed: a byte of it was written (a report is never a tombstone).
  if (entry.committed || !std::holds_alternative<wire::Frame>(entry.body)) {
    return std::nullopt;
  }
  return index;
}

void OutputQueue::RenumberDropReports() {
  if (drop_reports_.empty()) return;
  std::vector<std::pair<uint64_t, uint64_t>> by_position;  // position, id
  by_position.reserve(drop_reports_.size());
  for (const auto& [id, position] : drop_reports_) {
    if (position >= base_) by_position.emplace_back(position, id);
  }
  std::sort(by_position.begin(), by_position.end());
  drop_reports_.clear();
  size_t next = 0;
  uint64_t removed = 0;  // tombstones before entries_[i]
  for (size_t i = 0; i < entries_.size() && next < by_position.size(); ++i) {
    const uint64_t position = base_ + i;
    while (next < by_position.size() && by_position[next].first == position) {
      drop_reports_[by_position[next].second] = position - removed;
      ++next;
    }
    if (IsTombstone(entries_[i])) ++removed;
  }
}

void OutputQueue::PushMessage(uint64_t subscription,
                              std::shared_ptr<const wire::Frame> message) {
  SB_CHECK(message != nullptr);
  const uint64_t position = base_ + entries_.size();
  const size_t size = message->bytes().size();
  Subscription& accounting = AddSubscription(subscription);
  if (accounting.messages > 0) {
    *NextOf(At(accounting.last)) = position;
  } else {
    accounting.first = position;
  }
  accounting.last = position;
  ++accounting.messages;
  accounting.bytes += size;

  bytes_ += size;
  fds_ += message->fds().size();
  Message entry{nullptr, subscription, 0, {}};
  std::memcpy(entry.prefix.data(), message->bytes().data(), wire::kPrefixBytes);
  wire::StampRequestId(entry.prefix.data(), subscription);
  entry.frame = std::move(message);
  entries_.push_back(Entry{false, std::move(entry)});
}

void OutputQueue::PushRun(uint64_t subscription,
                          std::shared_ptr<const wire::PublishRun> run) {
  SB_CHECK(run != nullptr && run->count() > 0);
  const uint64_t position = base_ + entries_.size();
  const size_t size = run->bytes().size();
  Subscription& accounting = AddSubscription(subscription);
  if (accounting.messages > 0) {
    *NextOf(At(accounting.last)) = position;
  } else {
    accounting.first = position;
  }
  accounting.last = position;
  accounting.messages += run->count();
  accounting.bytes += size;

  bytes_ += size;
  const size_t count = run->count();
  entries_.push_back(
      Entry{false, Run{std::move(run), subscription, 0, 0, count}});
}

size_t OutputQueue::EntryBytes(const Entry& entry) {
  if (const auto* frame = std::get_if<wire::Frame>(&entry.body)) {
    return frame->bytes().size();
  }
  if (const auto* message = std::get_if<Message>(&entry.body)) {
    return message->frame->bytes().size();
  }
  if (const auto* run = std::get_if<Run>(&entry.body)) {
    return run->run->bytes().size() - run->begin;
  }
  return 0;
}

const std::vector<Fd>& OutputQueue::EntryFds(const Entry& entry) {
  if (const auto* frame = std::get_if<wire::Frame>(&entry.body)) {
    return frame->fds();
  }
  if (const auto* message = std::get_if<Message>(&entry.body)) {
    return message->frame->fds();
  }
  return NoFds();
}

uint64_t* OutputQueue::NextOf(Entry& entry) {
  if (auto* message = std::get_if<Message>(&entry.body)) return &message->next;
  return &std::get<Run>(entry.body).next;
}

OutputQueue::Entry& OutputQueue::At(uint64_t position) {
  SB_CHECK(position >= base_ && position - base_ < entries_.size())
      << "no queued entry at " << position;
  return entries_[position - base_];
}

core::Outbox::Queued OutputQueue::Queued(uint64_t subscription) const {
  const Subscription* accounting = FindSubscription(subscription);
  if (accounting == nullptr) return {};
  return {accounting->messages, accounting->bytes};
}

const OutputQueue::Subscription* OutputQueue::FindSubscription(
    uint64_t subscription) const {
  if (cached_ != nullptr && cached_id_ == subscription) {
    return cached_->messages > 0 ? cached_ : nullptr;
  }
  auto it = subscriptions_.find(subscription);
  return it == subscriptions_.end() ? nullptr : &it->second;
}

OutputQueue::Subscription* OutputQueue::FindSubscription(
    uint64_t subscription) {
  if (cached_ != nullptr && cached_id_ == subscription) {
    return cached_->messages > 0 ? cached_ : nullptr;
  }
  auto it = subscriptions_.find(subscription);
  if (it == subscriptions_.end()) return nullptr;
  // Erasing leaves the other records where they are.
  if (cached_ != nullptr && cached_->messages == 0) {
    subscriptions_.erase(cached_id_);
  }
  cached_id_ = subscription;
  cached_ = &it->second;
  return cached_;
}

OutputQueue::Subscription& OutputQueue::AddSubscription(uint64_t subscription) {
  if (cached_ != nullptr && cached_id_ == subscription) return *cached_;
  // Before inserting, which may move every record.
  if (cached_ != nullptr && cached_->messages == 0) {
    subscriptions_.erase(cached_id_);
  }
  cached_id_ = subscription;
  cached_ = &subscriptions_[subscription];
  return *cached_;
}

void OutputQueue::RemoveSubscription(uint64_t subscription) {
  if (cached_ != nullptr && cached_id_ == subscription) {
    *cached_ = Subscription();
    return;
  }
  subscriptions_.erase(subscription);
}

void OutputQueue::CommitEntry(Entry& entry) {
  if (entry.committed) return;
  entry.committed = true;
  uint64_t subscription = 0;
  uint64_t next = 0;
  size_t messages = 0;
  if (const auto* message = std::get_if<Message>(&entry.body)) {
    subscription = message->subscription;
    next = message->next;
    messages = 1;
  } else if (const auto* run = std::get_if<Run>(&entry.body)) {
    subscription = run->subscription;
    next = run->next;
    messages = run->messages;
  } else {
    return;
  }
  Subscription* found = FindSubscription(subscription);
  SB_CHECK(found != nullptr && &At(found->first) == &entry &&
           found->messages >= messages)
      << "subscription " << subscription << " commits out of order";
  Subscription& accounting = *found;
  accounting.messages -= messages;
  if (accounting.messages == 0) {
    RemoveSubscription(subscription);
    return;
  }
  accounting.bytes -= EntryBytes(entry);
  accounting.first = next;
}

size_t OutputQueue::TakeFromRun(Entry& entry, Run& run) {
  const size_t size =
      wire::PublishRun::FrameBytesAt(run.run->bytes().data() + run.begin);
  run.begin += size;
  --run.messages;
  Subscription* found = FindSubscription(run.subscription);
  SB_CHECK(found != nullptr && &At(found->first) == &entry)
      << "subscription " << run.subscription << " takes out of order";
  if (--found->messages == 0) {
    RemoveSubscription(run.subscription);
    return size;
  }
  found->bytes -= size;
  if (run.messages == 0) found->first = run.next;
  return size;
}

void OutputQueue::CommitFront(size_t count) {
  for (size_t i = 0; i < count; ++i) CommitEntry(entries_[i]);
}

size_t OutputQueue::DropOldest(uint64_t subscription) {
  const Subscription* accounting = FindSubscription(subscription);
  if (accounting == nullptr) return 0;
  Entry& entry = At(accounting->first);
  SB_CHECK(!entry.committed)
      << "subscription " << subscription << " lost its oldest message";
  if (auto* run = std::get_if<Run>(&entry.body)) {
    const size_t size = TakeFromRun(entry, *run);
    bytes_ -= size;
    if (run->messages == 0) {
      entry.body = std::monostate();
      ++tombstones_;
      PopFrontTombstones();
      CompactIfSparse();
    }
    return size;
  }
  const size_t size = EntryBytes(entry);
  fds_ -= EntryFds(entry).size();
  bytes_ -= size;
  // Take it out of the subscription's accounting, then bury it; the
  // committed flag means nothing on a tombstone.
  CommitEntry(entry);
  entry.body = std::monostate();
  ++tombstones_;
  PopFrontTombstones();
  CompactIfSparse();
  return size;
}

void OutputQueue::PopFront() {
  entries_.pop_front();
  ++base_;
}

void OutputQueue::PopFrontTombstones() {
  while (!entries_.empty() && IsTombstone(entries_.front())) {
    PopFront();
    --tombstones_;
  }
}

void OutputQueue::CompactIfSparse() {
  if (tombstones_ < kMinTombstonesToCompact) return;
  if (tombstones_ <= entries_.size() - tombstones_) return;
  // The front entry is never a tombstone here, so front_offset_ still
  // refers to it and base_ stays its position.
  RenumberDropReports();
  entries_.RemoveIf(IsTombstone);
  tombstones_ = 0;
  Relink();
}

void OutputQueue::Relink() {
  for (auto& [id, accounting] : subscriptions_) {
    accounting.first = 0;
    accounting.last = 0;
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& entry = entries_[i];
    if (entry.committed) continue;
    uint64_t* next = nullptr;
    uint64_t subscription = 0;
    if (auto* message = std::get_if<Message>(&entry.body)) {
      next = &message->next;
      subscription = message->subscription;
    } else if (auto* run = std::get_if<Run>(&entry.body)) {
      next = &run->next;
      subscription = run->subscription;
    } else {
      continue;
    }
    const uint64_t position = base_ + i;
    *next = 0;
    Subscription& accounting = subscriptions_.at(subscription);
    if (accounting.first == 0) {
      accounting.first = position;
    } else {
      *NextOf(At(accounting.last)) = position;
    }
    accounting.last = position;
  }
}

void OutputQueue::DropMessages() {
  // Bury the uncommitted messages first, so the drop reports can be
  // renumbered past them exactly as for a compaction: a report still
  // unwritten stays replaceable, and no position is left pointing at
  // another frame.
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& entry = entries_[i];
    if (IsTombstone(entry) || entry.committed ||
        std::holds_alternative<wire::Frame>(entry.body)) {
      continue;
    }
    bytes_ -= EntryBytes(entry);
    fds_ -= EntryFds(entry).size();
    entry.body = std::monostate();
    ++tombstones_;
  }
  RenumberDropReports();
  // Committed entries are a prefix and stay, so the front and
  // front_offset_ are unchanged, and only uncommitted messages were linked.
  entries_.RemoveIf(IsTombstone);
  tombstones_ = 0;
  subscriptions_.clear();
  cached_ = nullptr;
}

void OutputQueue::Clear() {
  entries_.clear();
  subscriptions_.clear();
  drop_reports_.clear();
  cached_ = nullptr;
  base_ = 1;
  front_offset_ = 0;
  bytes_ = 0;
  fds_ = 0;
  tombstones_ = 0;
}

absl::StatusOr<size_t> OutputQueue::Write(int socket) {
  int fds[io::kMaxFdsPerMessage];
  size_t total = 0;
  while (true) {
    PopFrontTombstones();
    if (entries_.empty()) {
      // All written. Most writes end here, and clearing an empty map
      // still touches its slots.
      if (!drop_reports_.empty()) drop_reports_.clear();
      return total;
    }
    Gather gather;
    size_t fd_count = 0;
    // Entries from the front up to the last one whose descriptors go in
    // this batch.
    size_t fd_entries = 0;
    size_t skip = front_offset_;
    bool stage_full = false;
    for (size_t i = 0; i < entries_.size() && gather.HasRoom(2) && !stage_full;
         ++i) {
      const Entry& entry = entries_[i];
      if (const auto* run = std::get_if<Run>(&entry.body)) {
        // Each message is copied and stamped; a committed run may have been
        // written in part.
        const absl::string_view bytes = run->run->bytes();
        size_t offset = run->begin;
        size_t size = wire::PublishRun::FrameBytesAt(bytes.data() + offset);
        while (skip >= size) {
          skip -= size;
          offset += size;
          size = wire::PublishRun::FrameBytesAt(bytes.data() + offset);
        }
        while (true) {
          if (!gather.AddStamped(bytes.data() + offset, size, skip,
                                 run->subscription)) {
            stage_full = true;
            break;
          }
          skip = 0;
          offset += size;
          if (offset == bytes.size()) break;
          size = wire::PublishRun::FrameBytesAt(bytes.data() + offset);
        }
        continue;
      }
      const auto* message = std::get_if<Message>(&entry.body);
      const auto* frame = std::get_if<wire::Frame>(&entry.body);
      if (message == nullptr && frame == nullptr) continue;  // tombstone
      if (!entry.committed) {
        const std::vector<Fd>& entry_fds = EntryFds(entry);
        if (!entry_fds.empty()) {
          // A frame holds at most 253, so the batch's first always fits.
          if (fd_count + entry_fds.size() > io::kMaxFdsPerMessage) break;
          for (const Fd& fd : entry_fds) fds[fd_count++] = fd.get();
          fd_entries = i + 1;
        }
      }
      absl::string_view bytes;
      if (message != nullptr) {
        bytes = message->frame->bytes();
        if (skip < wire::kPrefixBytes) {
          gather.Add(message->prefix.data() + skip, wire::kPrefixBytes - skip);
          skip = wire::kPrefixBytes;
        }
      } else {
        bytes = frame->bytes();
      }
      bytes.remove_prefix(skip);
      skip = 0;
      gather.Add(bytes.data(), bytes.size());
    }
    // sendmsg rather than writev for MSG_NOSIGNAL: a client that vanished
    // must cost an EPIPE, not a SIGPIPE.
    absl::StatusOr<size_t> sent = io::SendWithFds(
        socket, gather.iovecs(), absl::MakeConstSpan(fds, fd_count));
    if (!sent.ok()) {
      return absl::UnavailableError(
          absl::StrCat("write failed: ", sent.status().message()));
    }
    const size_t n = *sent;
    if (n == 0) return total;  // EAGAIN
    // The descriptors went with the batch's first byte.
    CommitFront(fd_entries);
    Consume(n);
    total += n;
    if (n < gather.bytes()) return total;  // the socket is full
  }
}

void OutputQueue::Consume(size_t bytes) {
  bytes_ -= bytes;
  while (bytes > 0) {
    Entry& entry = entries_.front();
    if (IsTombstone(entry)) {
      PopFront();
      --tombstones_;
      continue;
    }
    if (!entry.committed && std::holds_alternative<Run>(entry.body) &&
        bytes < EntryBytes(entry)) {
      SplitFrontRun(bytes);
      return;
    }
    CommitEntry(entry);
    const size_t left = EntryBytes(entry) - front_offset_;
    if (bytes < left) {
      front_offset_ += bytes;
      return;
    }
    bytes -= left;
    front_offset_ = 0;
    fds_ -= EntryFds(entry).size();
    PopFront();  // closes an owned frame's descriptors
  }
  PopFrontTombstones();
}

void OutputQueue::SplitFrontRun(size_t written) {
  Entry& entry = entries_.front();
  Run& run = std::get<Run>(entry.body);
  const char* bytes = run.run->bytes().data();
  // Whole messages written leave the run; front_offset_ is 0 before an
  // uncommitted entry.
  size_t size = wire::PublishRun::FrameBytesAt(bytes + run.begin);
  while (written >= size) {
    TakeFromRun(entry, run);
    written -= size;
    size = wire::PublishRun::FrameBytesAt(bytes + run.begin);
  }
  if (written == 0) return;
  // The message written in part goes in front, as an owned frame with its
  // request id stamped, committed: it must be finished first.
  wire::Frame partial = run.run->CopyFrame(run.begin);
  partial.set_request_id(run.subscription);
  TakeFromRun(entry, run);
  if (run.messages == 0) {
    entry.body = std::monostate();
    ++tombstones_;
  }
  entries_.push_front(Entry{true, std::move(partial)});
  --base_;  // every other entry keeps its position
  front_offset_ = written;
}

}  // namespace switchboard::server
