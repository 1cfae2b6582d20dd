// SPDX-License-Identifier: MIT
//
// Fd: sole owner of a file descriptor, closed on destruction. Move-only.
// In base/ because frames own the descriptors that travel with them (wire/),
// and sockets, the daemon and the client all hold descriptors too.
#ifndef SWITCHBOARD_BASE_FD_H_
#define SWITCHBOARD_BASE_FD_H_

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <utility>

namespace switchboard {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {
    if (fd_ >= 0) Count(1);
  }
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  int release() {
    if (fd_ >= 0) Count(-1);
    return std::exchange(fd_, -1);
  }
  // Closes the current descriptor (if any) and takes `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0) {
      ::close(fd_);
      Count(-1);
    }
    fd_ = fd;
    if (fd_ >= 0) Count(1);
  }

  // Descriptors owned by Fd objects of this program (of this shared
  // object, for the library) right now. The broker sizes what clients may
  // make it hold by this count against its descriptor limit.
  static int64_t OpenCount() {
    return open_count_.load(std::memory_order_relaxed);
  }

 private:
  static void Count(int64_t delta) {
    open_count_.fetch_add(delta, std::memory_order_relaxed);
  }

  static inline std::atomic<int64_t> open_count_{0};
  int fd_ = -1;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_BASE_FD_H_
