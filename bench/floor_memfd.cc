// SPDX-License-Identifier: MIT
#include "bench/floor_memfd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fd.h"
#include "bench/child_process.h"
#include "bench/workload.h"

namespace switchboard::bench {
namespace {

// A reply on the wire: floor.h's 4-byte length, then the buffer's size.
struct ReplyFrame {
  uint32_t length;
  uint64_t buffer_bytes;
} __attribute__((packed));

// A received buffer, mapped read-only; unmapped and closed on destruction.
class Mapping {
 public:
  Mapping(Fd fd, const char* data, size_t size)
      : fd_(std::move(fd)), data_(data), size_(size) {}
  ~Mapping() { ::munmap(const_cast<char*>(data_), size_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  absl::string_view view() const { return absl::string_view(data_, size_); }

 private:
  Fd fd_;
  const char* data_;
  size_t size_;
};

// Receives one ReplyFrame and the single descriptor sent with its first
// byte. Errors: kUnavailable at end of stream before the reply; kDataLoss
// for a truncated reply, a truncated control message or a descriptor count
// other than one.
absl::StatusOr<Fd> ReceiveReply(int socket, ReplyFrame& reply) {
  auto* bytes = reinterpret_cast<char*>(&reply);
  size_t have = 0;
  std::vector<Fd> received;
  while (have < sizeof reply) {
    iovec part{bytes + have, sizeof reply - have};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "recvmsg");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
         c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        received.emplace_back(fd);
      }
    }
    if ((message.msg_flags & MSG_CTRUNC) != 0) {
      return absl::DataLossError("reply's descriptors were truncated");
    }
    if (n == 0) {
      if (have == 0) return absl::UnavailableError("server closed the socket");
      return absl::DataLossError("server closed the socket inside a reply");
    }
    have += static_cast<size_t>(n);
  }
  if (reply.length != sizeof reply.buffer_bytes) {
    return absl::DataLossError(
        absl::StrCat("reply frame of ", reply.length, " bytes, expected 8"));
  }
  if (received.size() != 1) {
    return absl::DataLossError(absl::StrCat("reply came with ", received.size(),
                                            " descriptors, expected 1"));
  }
  return std::move(received.front());
}

// Sends a ReplyFrame for a buffer of `buffer_bytes` with `memfd` passed on
// its first byte. Errors from sendmsg() as ErrnoToStatus.
absl::Status SendReply(int socket, int memfd, uint64_t buffer_bytes) {
  ReplyFrame reply{sizeof reply.buffer_bytes, buffer_bytes};
  auto* bytes = reinterpret_cast<char*>(&reply);
  size_t sent = 0;
  while (sent < sizeof reply) {
    iovec part{bytes + sent, sizeof reply - sent};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    if (sent == 0) {
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&message);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &memfd, sizeof memfd);
    }
    ssize_t n = ::sendmsg(socket, &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "sendmsg");
    }
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// A frame of the server's pool: a memfd with its size sealed, and the
// server's writable mapping of it, kept for the server's lifetime as a
// kSizeOnly SharedBuffer keeps it (a decoder refills its pool through it).
// That also matters for the floor's cost: a receiver maps pages that are
// already mapped elsewhere measurably faster than pages mapped nowhere.
struct PoolFrame {
  Fd memfd;
  char* pixels = nullptr;

  PoolFrame() = default;
  PoolFrame(PoolFrame&& other) noexcept
      : memfd(std::move(other.memfd)),
        pixels(std::exchange(other.pixels, nullptr)) {}
  PoolFrame& operator=(PoolFrame&&) = delete;
  ~PoolFrame() {
    if (pixels != nullptr) ::munmap(pixels, kBigFrameReplyBytes);
  }
};

// Frame `index` of the pool in a new memfd, its size sealed.
absl::StatusOr<PoolFrame> CreateSealedFrame(size_t index) {
  Fd memfd(
      ::memfd_create("floor-memfd-frame", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memfd) return absl::ErrnoToStatus(errno, "memfd_create");
  if (::ftruncate(memfd.get(), kBigFrameReplyBytes) != 0) {
    return absl::ErrnoToStatus(errno, "ftruncate");
  }
  void* pixels = ::mmap(nullptr, kBigFrameReplyBytes, PROT_READ | PROT_WRITE,
                        MAP_SHARED, memfd.get(), 0);
  if (pixels == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap");
  PoolFrame frame;
  frame.memfd = std::move(memfd);
  frame.pixels = static_cast<char*>(pixels);
  RenderBigFrame(index, frame.pixels);
  if (::fcntl(frame.memfd.get(), F_ADD_SEALS,
              F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return absl::ErrnoToStatus(errno, "fcntl(F_ADD_SEALS)");
  }
  return frame;
}

absl::Status ServeMemfds(int fd) {
  std::vector<PoolFrame> pool;
  for (size_t index = 0; index < kBigFramePoolSize; ++index) {
    absl::StatusOr<PoolFrame> frame = CreateSealedFrame(index);
    if (!frame.ok()) return frame.status();
    pool.push_back(*std::move(frame));
  }
  FrameReader reader(fd);
  if (absl::Status s = AnnounceReady(); !s.ok()) return s;
  while (true) {
    absl::StatusOr<std::optional<absl::string_view>> request = reader.Read();
    if (!request.ok()) return request.status();
    if (!request->has_value()) return absl::OkStatus();  // the client is done
    const PoolFrame& frame = pool[BigFrameIndex(**request)];
    if (absl::Status s = SendReply(fd, frame.memfd.get(), kBigFrameReplyBytes);
        !s.ok()) {
      return s;
    }
  }
}

}  // namespace

absl::StatusOr<Payload> FloorMemfdCaller::Call(absl::string_view request) {
  if (absl::Status s = WriteFrame(fd_, request); !s.ok()) return s;
  ReplyFrame reply;
  absl::StatusOr<Fd> memfd = ReceiveReply(fd_, reply);
  if (!memfd.ok()) return memfd.status();
  // The buffer's size is its file's size; the frame's figure is only what
  // the server says it sent.
  struct stat st {};
  if (::fstat(memfd->get(), &st) != 0)
    return absl::ErrnoToStatus(errno, "fstat");
  auto size = static_cast<size_t>(st.st_size);
  if (size == 0 || size != reply.buffer_bytes) {
    return absl::DataLossError(absl::StrCat(
        "buffer of ", size, " bytes, reply says ", reply.buffer_bytes));
  }
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, memfd->get(), 0);
  if (data == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap");
  auto mapping = std::make_shared<const Mapping>(
      *std::move(memfd), static_cast<const char*>(data), size);
  absl::string_view view = mapping->view();
  return Payload(std::move(mapping), view);
}

int RunFloorMemfdServer(int fd) {
  absl::Status status = ServeMemfds(fd);
  if (!status.ok()) {
    std::fprintf(stderr, "floor-memfd server: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace switchboard::bench
