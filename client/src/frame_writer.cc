// SPDX-License-Identifier: MIT
#include "client/src/frame_writer.h"

#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace switchboard::client {
namespace {

constexpr size_t kMaxIov = 64;

}  // namespace

FrameWriter::FrameWriter(int fd, size_t max_queued_bytes,
                         std::function<void(bool)> set_want_writable)
    : fd_(fd),
      max_queued_bytes_(max_queued_bytes),
      set_want_writable_(std::move(set_want_writable)) {}

absl::Status FrameWriter::Send(std::string head, Payload payload, bool defer,
                               Buffers buffers, uint64_t connection) {
  Pending frame;
  frame.size = head.size() + payload.size();
  if (!payload.buffers().empty()) {
    if (buffers == Buffers::kInline) {
      frame.buffers_inline = true;
      for (const SharedBuffer& buffer : payload.buffers()) {
        frame.size += buffer.size();
      }
    } else {
      if (payload.buffers().size() > kMaxFdsPerSend) {
        return absl::InvalidArgumentError(
            absl::StrCat(payload.buffers().size(),
                         " buffers are more descriptors than one frame can "
                         "carry (",
                         kMaxFdsPerSend, ")"));
      }
      frame.fds.reserve(payload.buffers().size());
      for (const SharedBuffer& buffer : payload.buffers()) {
        if (buffer.fd() < 0) {
          return absl::InvalidArgumentError(
              "a buffer without a descriptor cannot travel as one");
        }
        frame.fds.push_back(buffer.fd());
      }
    }
  }
  frame.head = std::move(head);
  frame.payload = std::move(payload);
  const size_t size = frame.size;
  PlainMutexLock lock(&mu_);
  if (!failure_.ok()) return failure_;
  if (connection != 0 &&
      connection != generation_.load(std::memory_order_relaxed)) {
    return absl::UnavailableError(
        "the connection this frame was made for is gone");
  }
  if (!queue_.empty() && queued_bytes_ + size > max_queued_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("client send queue full: ", queued_bytes_,
                     " bytes wait for the "
                     "broker to read them (limit ",
                     max_queued_bytes_, ")"));
  }
  queue_.push_back(std::move(frame));
  queued_bytes_ += size;
  queued_bytes_atomic_.store(queued_bytes_, std::memory_order_relaxed);
  queued_.store(true, std::memory_order_relaxed);
  if (defer) return absl::OkStatus();
  return FlushLocked();
}

absl::Status FrameWriter::SendCopy(
    std::initializer_list<absl::string_view> parts) {
  size_t size = 0;
  for (absl::string_view part : parts) size += part.size();
  PlainMutexLock lock(&mu_);
  if (!failure_.ok()) return failure_;
  if (!queue_.empty() && queued_bytes_ + size > max_queued_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("client send queue full: ", queued_bytes_,
                     " bytes wait for the broker to read them (limit ",
                     max_queued_bytes_, ")"));
  }
  if (queue_.empty() || !queue_.back().batch ||
      queue_.back().head.size() + size > kBatchBytes) {
    Pending block;
    block.batch = true;
    block.head = std::move(spare_block_);
    spare_block_ = std::string();
    block.head.reserve(std::max(size, kBatchBytes));
    queue_.push_back(std::move(block));
  }
  Pending& block = queue_.back();
  for (absl::string_view part : parts) {
    block.head.append(part.data(), part.size());
  }
  block.size += size;
  queued_bytes_ += size;
  queued_bytes_atomic_.store(queued_bytes_, std::memory_order_relaxed);
  queued_.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

void FrameWriter::Reset(int fd, absl::FunctionRef<void()> while_locked) {
  PlainMutexLock lock(&mu_);
  fd_ = fd;
  queue_.clear();
  queued_bytes_ = 0;
  queued_bytes_atomic_.store(0, std::memory_order_relaxed);
  queued_.store(false, std::memory_order_relaxed);
  failure_ = absl::OkStatus();
  watching_ = false;
  waiting_for_socket_.store(false, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  while_locked();
  if (room_waiters_ > 0) room_.notify_all();
}

void FrameWriter::RepeatWatch() {
  PlainMutexLock lock(&mu_);
  if (watching_) set_want_writable_(true);
}

bool FrameWriter::WaitForRoom(size_t limit, absl::Time deadline) {
  PlainMutexLock lock(&mu_);
  auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queued_bytes_ <= limit || !failure_.ok();
  };
  // Every write that drains the queue or fails signals room_ (FlushLocked).
  ++room_waiters_;
  if (deadline == absl::InfiniteFuture()) {
    while (!room()) room_.wait(mu_);
  } else {
    const auto until = absl::ToChronoTime(deadline);
    while (!room()) {
      if (room_.wait_until(mu_, until) == std::cv_status::timeout) break;
    }
  }
  --room_waiters_;
  return room();
}

absl::Status FrameWriter::Flush() {
  PlainMutexLock lock(&mu_);
  return FlushLocked();
}

void FrameWriter::UpdateWatchLocked() {
  const bool want = !queue_.empty() && failure_.ok();
  if (want != watching_) {
    watching_ = want;
    set_want_writable_(want);
    waiting_for_socket_.store(want, std::memory_order_release);
  }
}

absl::Status FrameWriter::FlushLocked() {
  absl::Status status = WriteLocked();
  queued_.store(!queue_.empty(), std::memory_order_relaxed);
  UpdateWatchLocked();
  if (room_waiters_ > 0) room_.notify_all();
  return status;
}

void FrameWriter::AddParts(const Pending& frame, iovec* iov, size_t& count,
                           size_t max) {
  size_t skip = frame.offset;
  auto add = [&](absl::string_view part) {
    if (count == max) return;
    if (skip >= part.size()) {
      skip -= part.size();
      return;
    }
    iov[count++] =
        iovec{const_cast<char*>(part.data()) + skip, part.size() - skip};
    skip = 0;
  };
  add(frame.head);
  add(frame.payload.view());
  if (!frame.buffers_inline) return;
  for (const SharedBuffer& buffer : frame.payload.buffers()) add(buffer.data());
}

absl::Status FrameWriter::WriteLocked() {
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFdsPerSend * sizeof(int))];
  while (!queue_.empty() && failure_.ok()) {
    iovec iov[kMaxIov];
    size_t count = 0;
    msghdr msg{};
    // A frame with descriptors starts its own sendmsg(), so they travel with
    // its first byte even if the kernel takes only part of the batch; frames
    // without descriptors may follow it in the same call.
    const Pending& first = queue_.front();
    if (!first.fds.empty()) {
      const size_t bytes = first.fds.size() * sizeof(int);
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(bytes);
      cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(bytes);
      std::memcpy(CMSG_DATA(cmsg), first.fds.data(), bytes);
    }
    for (auto it = queue_.begin(); it != queue_.end() && count < kMaxIov;
         ++it) {
      if (it != queue_.begin() && !it->fds.empty()) break;
      AddParts(*it, iov, count, kMaxIov);
    }
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    sends_.fetch_add(1, std::memory_order_relaxed);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      failure_ = absl::UnavailableError(absl::StrCat(
          "connection to the broker failed: ", std::strerror(errno)));
      return failure_;
    }
    size_t written = static_cast<size_t>(n);
    // At least one byte went, so the descriptors did too: never again.
    if (written > 0) queue_.front().fds.clear();
    queued_bytes_ -= written;
    queued_bytes_atomic_.store(queued_bytes_, std::memory_order_relaxed);
    while (written > 0) {
      Pending& front = queue_.front();
      const size_t left = front.size - front.offset;
      if (written < left) {
        front.offset += written;
        break;
      }
      written -= left;
      if (front.batch && spare_block_.capacity() == 0) {
        front.head.clear();  // keeps its capacity
        spare_block_ = std::move(front.head);
      }
      queue_.pop_front();
    }
  }
  return failure_;
}

}  // namespace switchboard::client
