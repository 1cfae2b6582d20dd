// SPDX-License-Identifier: MIT
#include "bench/topic_relay.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>

#include "absl/status/status.h"
#include "base/fd.h"
#include "bench/child_process.h"
#include "io/connect.h"

namespace switchboard::bench {
namespace {

constexpr size_t kRelayBufferBytes = 64 * 1024;
// Full 64 KiB reads in a row before the relay waits on epoll again.
constexpr int kRelayReadsPerWakeup = 16;
constexpr int kMaxEvents = 16;
// The interest of a socket removed from epoll.
constexpr uint32_t kUnwatched = ~uint32_t{0};

class TopicRelay {
 public:
  TopicRelay(int publisher_fd, const std::vector<int>& subscriber_fds)
      : publisher_(publisher_fd),
        subscribers_(subscriber_fds),
        written_(subscriber_fds.size(), 0),
        interest_(subscriber_fds.size() + 1, 0) {
    interest_[0] = EPOLLIN;
  }

  absl::Status Run();

 private:
  absl::Status Setup();
  // Reads from the publisher while every subscriber takes each buffer at
  // once; stops when one cannot, or the publisher has nothing more.
  absl::Status ReadAndForward();
  // Writes what subscriber `i` still lacks of the buffer, as far as it takes.
  absl::Status WriteTo(size_t i);
  // Epoll indexes: 0 is the publisher, i + 1 is subscriber i.
  int FdOf(uint64_t index) const {
    return index == 0 ? publisher_ : subscribers_[index - 1];
  }
  absl::Status SetInterest(uint64_t index, uint32_t wanted);
  absl::Status UpdateInterest();

  int publisher_;
  std::vector<int> subscribers_;
  Fd epoll_fd_;
  std::unique_ptr<char[]> buffer_{new char[kRelayBufferBytes]};
  size_t size_ = 0;              // bytes in buffer_
  std::vector<size_t> written_;  // of them, written to each subscriber
  size_t behind_ = 0;            // subscribers that lack some of them
  bool publisher_open_ = true;
  std::vector<uint32_t> interest_;  // by epoll index
};

absl::Status TopicRelay::Setup() {
  epoll_fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_) return absl::ErrnoToStatus(errno, "epoll_create1");
  for (size_t i = 0; i <= subscribers_.size(); ++i) {
    if (absl::Status s = io::SetNonBlocking(FdOf(i)); !s.ok()) return s;
    epoll_event event{};
    event.events = interest_[i];
    event.data.u64 = i;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, FdOf(i), &event) != 0) {
      return absl::ErrnoToStatus(errno, "epoll_ctl");
    }
  }
  return absl::OkStatus();
}

absl::Status TopicRelay::WriteTo(size_t i) {
  while (written_[i] < size_) {
    ssize_t n = ::write(subscribers_[i], buffer_.get() + written_[i],
                        size_ - written_[i]);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, "relay write");
    }
    written_[i] += static_cast<size_t>(n);
  }
  --behind_;
  return absl::OkStatus();
}

absl::Status TopicRelay::ReadAndForward() {
  for (int reads = 0; reads < kRelayReadsPerWakeup && behind_ == 0;) {
    ssize_t n = ::read(publisher_, buffer_.get(), kRelayBufferBytes);
    if (n == 0) {
      publisher_open_ = false;
      return absl::OkStatus();
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, "relay read");
    }
    ++reads;
    size_ = static_cast<size_t>(n);
    behind_ = subscribers_.size();
    for (size_t i = 0; i < subscribers_.size(); ++i) {
      written_[i] = 0;
      if (absl::Status s = WriteTo(i); !s.ok()) return s;
    }
    // A short read drained the socket: epoll says when there is more, which
    // saves a read() that would only say EAGAIN.
    if (size_ < kRelayBufferBytes) return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status TopicRelay::SetInterest(uint64_t index, uint32_t wanted) {
  if (wanted == interest_[index] || interest_[index] == kUnwatched) {
    return absl::OkStatus();
  }
  epoll_event event{};
  event.events = wanted;
  event.data.u64 = index;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, FdOf(index), &event) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl");
  }
  interest_[index] = wanted;
  return absl::OkStatus();
}

// The publisher is read only while every subscriber has the whole buffer; a
// subscriber is watched for room only while it lacks some of it.
absl::Status TopicRelay::UpdateInterest() {
  if (absl::Status s = SetInterest(
          0, behind_ == 0 && publisher_open_ ? uint32_t{EPOLLIN} : 0u);
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < subscribers_.size(); ++i) {
    if (absl::Status s =
            SetInterest(i + 1, written_[i] < size_ ? uint32_t{EPOLLOUT} : 0u);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status TopicRelay::Run() {
  if (absl::Status s = Setup(); !s.ok()) return s;
  if (absl::Status s = AnnounceReady(); !s.ok()) return s;
  while (publisher_open_ || behind_ > 0) {
    epoll_event events[kMaxEvents];
    int n = ::epoll_wait(epoll_fd_.get(), events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "epoll_wait");
    }
    bool publisher_ready = false;
    for (int e = 0; e < n; ++e) {
      uint64_t index = events[e].data.u64;
      if (index == 0) {
        publisher_ready = true;  // readable, or hung up: read() says which
      } else if (written_[index - 1] < size_) {
        // Writable, or failed: write() reports the error.
        if (absl::Status s = WriteTo(index - 1); !s.ok()) return s;
      } else if (events[e].events & (EPOLLHUP | EPOLLERR)) {
        // A subscriber that has everything closed its socket (it read the
        // end marker). epoll reports a hang-up whatever the interest, so
        // stop watching it; a later write to it fails with EPIPE.
        if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, FdOf(index), nullptr) !=
            0) {
          return absl::ErrnoToStatus(errno, "epoll_ctl");
        }
        interest_[index] = kUnwatched;
      }
    }
    if (publisher_ready && behind_ == 0) {
      if (absl::Status s = ReadAndForward(); !s.ok()) return s;
    }
    if (absl::Status s = UpdateInterest(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

int RunTopicRelay(int publisher_fd, const std::vector<int>& subscriber_fds) {
  TopicRelay relay(publisher_fd, subscriber_fds);
  absl::Status status = relay.Run();
  if (!status.ok()) {
    std::fprintf(stderr, "topic relay: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace switchboard::bench
