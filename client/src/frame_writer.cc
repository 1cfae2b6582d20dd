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

absl::Status FrameWriter::Send(std::string head, Payload payload, bool defer) {
  absl::MutexLock lock(&mu_);
  if (!failure_.ok()) return failure_;
  const size_t size = head.size() + payload.size();
  if (!queue_.empty() && queued_bytes_ + size > max_queued_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("client send queue full: ", queued_bytes_,
                     " bytes wait for the "
                     "broker to read them (limit ",
                     max_queued_bytes_, ")"));
  }
  queue_.push_back(Pending{std::move(head), std::move(payload), 0});
  queued_bytes_ += size;
  queued_.store(true, std::memory_order_relaxed);
  if (defer) return absl::OkStatus();
  return FlushLocked();
}

absl::Status FrameWriter::Flush() {
  absl::MutexLock lock(&mu_);
  return FlushLocked();
}

void FrameWriter::UpdateWatchLocked() {
  const bool want = !queue_.empty() && failure_.ok();
  if (want != watching_) {
    watching_ = want;
    set_want_writable_(want);
  }
}

absl::Status FrameWriter::FlushLocked() {
  absl::Status status = WriteLocked();
  queued_.store(!queue_.empty(), std::memory_order_relaxed);
  UpdateWatchLocked();
  return status;
}

absl::Status FrameWriter::WriteLocked() {
  while (!queue_.empty() && failure_.ok()) {
    iovec iov[kMaxIov];
    size_t count = 0;
    for (auto it = queue_.begin(); it != queue_.end() && count + 2 <= kMaxIov;
         ++it) {
      size_t skip = it->offset;
      auto add = [&](absl::string_view part) {
        if (skip >= part.size()) {
          skip -= part.size();
          return;
        }
        iov[count++] =
            iovec{const_cast<char*>(part.data()) + skip, part.size() - skip};
        skip = 0;
      };
      add(it->head);
      add(it->payload.view());
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      failure_ = absl::UnavailableError(absl::StrCat(
          "connection to the broker failed: ", std::strerror(errno)));
      return failure_;
    }
    size_t written = static_cast<size_t>(n);
    queued_bytes_ -= written;
    while (written > 0) {
      Pending& front = queue_.front();
      const size_t left = front.size() - front.offset;
      if (written < left) {
        front.offset += written;
        break;
      }
      written -= left;
      queue_.pop_front();
    }
  }
  return failure_;
}

}  // namespace switchboard::client
