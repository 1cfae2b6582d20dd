// SPDX-License-Identifier: MIT
#include "bench/floor.h"

#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "bench/child_process.h"
#include "io/connect.h"

namespace switchboard::bench {
namespace {

using FrameLength = uint32_t;
constexpr size_t kPrefixBytes = sizeof(FrameLength);
constexpr size_t kRelayBufferBytes = 64 * 1024;
// Full 64 KiB reads in a row before the relay looks at the other direction.
constexpr int kRelayReadsPerWakeup = 16;

}  // namespace

// The default staging is big enough for any small frame with its prefix in
// one read(); a big frame's first read copies at most this much once more.
FrameReader::FrameReader(int fd, size_t staging_bytes)
    : fd_(fd), staging_(staging_bytes, '\0') {}

absl::StatusOr<bool> FrameReader::Fill() {
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == staging_.size()) {
    std::memmove(staging_.data(), staging_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (true) {
    ssize_t n = ::read(fd_, staging_.data() + end_, staging_.size() - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) return false;
    if (errno != EINTR) return absl::ErrnoToStatus(errno, "read");
  }
}

absl::StatusOr<std::optional<absl::string_view>> FrameReader::Read() {
  while (end_ - begin_ < kPrefixBytes) {
    absl::StatusOr<bool> more = Fill();
    if (!more.ok()) return more.status();
    if (!*more) {
      if (begin_ == end_) return std::nullopt;
      return absl::DataLossError("peer closed the socket inside a frame");
    }
  }
  FrameLength length;
  std::memcpy(&length, staging_.data() + begin_, kPrefixBytes);
  if (kPrefixBytes + length <= staging_.size()) {
    while (end_ - begin_ < kPrefixBytes + length) {
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more)
        return absl::DataLossError("peer closed the socket inside a frame");
    }
    absl::string_view frame(staging_.data() + begin_ + kPrefixBytes, length);
    begin_ += kPrefixBytes + length;
    return frame;
  }
  // Large frame: take what staging holds, then read the rest in place.
  if (large_.size() < length) large_.resize(length);
  size_t have = end_ - begin_ - kPrefixBytes;
  std::memcpy(large_.data(), staging_.data() + begin_ + kPrefixBytes, have);
  begin_ = end_ = 0;
  while (have < length) {
    ssize_t n = ::read(fd_, large_.data() + have, length - have);
    if (n > 0) {
      have += static_cast<size_t>(n);
    } else if (n == 0) {
      return absl::DataLossError("peer closed the socket inside a frame");
    } else if (errno != EINTR) {
      return absl::ErrnoToStatus(errno, "read");
    }
  }
  return absl::string_view(large_.data(), length);
}

absl::Status WriteFrame(int fd, absl::string_view payload) {
  FrameLength length = static_cast<FrameLength>(payload.size());
  iovec parts[2] = {{&length, kPrefixBytes},
                    {const_cast<char*>(payload.data()), payload.size()}};
  iovec* next = parts;
  int count = 2;
  while (count > 0) {
    ssize_t n = ::writev(fd, next, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "writev");
    }
    auto written = static_cast<size_t>(n);
    while (count > 0 && written >= next->iov_len) {
      written -= next->iov_len;
      ++next;
      --count;
    }
    if (count > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + written;
      next->iov_len -= written;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Payload> FloorCaller::Call(absl::string_view request) {
  if (absl::Status s = WriteFrame(fd_, request); !s.ok()) return s;
  absl::StatusOr<std::optional<absl::string_view>> reply = reader_.Read();
  if (!reply.ok()) return reply.status();
  if (!reply->has_value())
    return absl::UnavailableError("server closed the socket");
  // The view points into reader_, which outlives the reply's use.
  return Payload(nullptr, **reply);
}

int RunFloorServer(Workload workload, int fd) {
  std::vector<std::shared_ptr<const std::string>> pool;
  if (workload == Workload::kBigFrame) pool = RenderBigFramePool();
  FrameReader reader(fd);
  if (absl::Status s = AnnounceReady(); !s.ok()) {
    std::fprintf(stderr, "floor-server: %s\n", s.ToString().c_str());
    return 1;
  }
  while (true) {
    absl::StatusOr<std::optional<absl::string_view>> request = reader.Read();
    if (!request.ok()) {
      std::fprintf(stderr, "floor-server: %s\n",
                   request.status().ToString().c_str());
      return 1;
    }
    if (!request->has_value()) return 0;  // the client is done
    absl::string_view reply =
        pool.empty() ? **request : *pool[BigFrameIndex(**request)];
    if (absl::Status s = WriteFrame(fd, reply); !s.ok()) {
      std::fprintf(stderr, "floor-server: %s\n", s.ToString().c_str());
      return 1;
    }
  }
}

namespace {

// Bytes read from one socket and not yet written to the other.
struct Direction {
  int from;
  int to;
  std::unique_ptr<char[]> buffer{new char[kRelayBufferBytes]};
  size_t begin = 0;
  size_t end = 0;

  bool pending() const { return begin < end; }
};

// Writes what `d` holds, as far as the destination takes it.
absl::Status Flush(Direction& d) {
  while (d.pending()) {
    ssize_t n = ::write(d.to, d.buffer.get() + d.begin, d.end - d.begin);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, "relay write");
    }
    d.begin += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Moves bytes along `d`. Returns false when its source has closed.
absl::StatusOr<bool> Pump(Direction& d, bool readable, bool writable) {
  if (d.pending() && writable) {
    if (absl::Status s = Flush(d); !s.ok()) return s;
  }
  for (int i = 0; i < kRelayReadsPerWakeup && readable && !d.pending(); ++i) {
    ssize_t n = ::read(d.from, d.buffer.get(), kRelayBufferBytes);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return absl::ErrnoToStatus(errno, "relay read");
    }
    d.begin = 0;
    d.end = static_cast<size_t>(n);
    if (absl::Status s = Flush(d); !s.ok()) return s;
    // A short read drained the socket: epoll (level-triggered) says when
    // there is more, which saves a read() that would only say EAGAIN.
    if (d.end < kRelayBufferBytes) break;
  }
  return true;
}

// Keeps `fd`'s epoll interest at: readable while its outgoing direction is
// empty, writable while its incoming direction holds bytes.
absl::Status UpdateInterest(int epoll_fd, int fd, const Direction& outgoing,
                            const Direction& incoming, uint32_t& current) {
  uint32_t wanted = (outgoing.pending() ? 0u : uint32_t{EPOLLIN}) |
                    (incoming.pending() ? uint32_t{EPOLLOUT} : 0u);
  if (wanted == current) return absl::OkStatus();
  epoll_event event{};
  event.events = wanted;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl");
  }
  current = wanted;
  return absl::OkStatus();
}

absl::Status Relay(int client_fd, int server_fd) {
  for (int fd : {client_fd, server_fd}) {
    if (absl::Status s = io::SetNonBlocking(fd); !s.ok()) return s;
  }
  Fd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd) return absl::ErrnoToStatus(errno, "epoll_create1");
  uint32_t client_interest = EPOLLIN;
  uint32_t server_interest = EPOLLIN;
  for (int fd : {client_fd, server_fd}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      return absl::ErrnoToStatus(errno, "epoll_ctl");
    }
  }
  Direction up{client_fd, server_fd};
  Direction down{server_fd, client_fd};
  if (absl::Status s = AnnounceReady(); !s.ok()) return s;
  while (true) {
    epoll_event events[2];
    int n = ::epoll_wait(epoll_fd.get(), events, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "epoll_wait");
    }
    uint32_t client_events = 0;
    uint32_t server_events = 0;
    for (int i = 0; i < n; ++i) {
      (events[i].data.fd == client_fd ? client_events : server_events) |=
          events[i].events;
    }
    // A hang-up or error shows as readable: read() then reports it.
    constexpr uint32_t kReadable = EPOLLIN | EPOLLHUP | EPOLLERR;
    absl::StatusOr<bool> up_open = Pump(up, client_events & kReadable,
                                        server_events & (EPOLLOUT | EPOLLERR));
    if (!up_open.ok()) return up_open.status();
    absl::StatusOr<bool> down_open = Pump(
        down, server_events & kReadable, client_events & (EPOLLOUT | EPOLLERR));
    if (!down_open.ok()) return down_open.status();
    if (!*up_open || !*down_open) return absl::OkStatus();
    if (absl::Status s = UpdateInterest(epoll_fd.get(), client_fd, up, down,
                                        client_interest);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = UpdateInterest(epoll_fd.get(), server_fd, down, up,
                                        server_interest);
        !s.ok()) {
      return s;
    }
  }
}

}  // namespace

int RunRelay(int client_fd, int server_fd) {
  absl::Status status = Relay(client_fd, server_fd);
  if (!status.ok()) {
    std::fprintf(stderr, "floor-relay: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace switchboard::bench
