// SPDX-License-Identifier: MIT
//
// Fd: sole owner of a file descriptor, closed on destruction. Move-only.
// In base/ because frames own the descriptors that travel with them (wire/),
// and sockets, the daemon and the client all hold descriptors too.
#ifndef SWITCHBOARD_BASE_FD_H_
#define SWITCHBOARD_BASE_FD_H_

#include <unistd.h>

#include <utility>

namespace switchboard {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  // Closes the current descriptor (if any) and takes `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_BASE_FD_H_
