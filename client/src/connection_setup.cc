// SPDX-License-Identifier: MIT
#include "client/src/connection_setup.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>

#include "client/src/frame_writer.h"
#include "io/address.h"

namespace switchboard::client {

wire::Limits ClientLimits(const v1::Welcome& welcome) {
  wire::Limits limits;
  if (welcome.max_header_bytes() != 0) {
    limits.max_header_bytes = welcome.max_header_bytes();
  }
  if (welcome.max_payload_bytes() != 0) {
    limits.max_payload_bytes = static_cast<uint32_t>(
        std::min<uint64_t>(welcome.max_payload_bytes(), UINT32_MAX));
  }
  limits.max_fds_per_frame = static_cast<uint8_t>(
      std::min<uint32_t>(welcome.max_fds_per_frame(), UINT8_MAX));
  return limits;
}

bool FdsEnabled(const Handshake& handshake) {
  return handshake.address.transport == io::Transport::kUnix &&
         handshake.welcome.max_fds_per_frame() > 0;
}

uint32_t MaxFdsPerFrame(const v1::Welcome& welcome) {
  return std::min<uint32_t>(welcome.max_fds_per_frame(),
                            FrameWriter::kMaxFdsPerSend);
}

absl::Status SetReadSlice(int fd) {
  const timeval slice{
      0, static_cast<suseconds_t>(absl::ToInt64Microseconds(kReadWaitSlice))};
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice) != 0) {
    return absl::ErrnoToStatus(errno, "setting up the client: SO_RCVTIMEO");
  }
  return absl::OkStatus();
}

absl::Status WatchFd(int epoll_fd, int fd, uint32_t events, uint32_t tag) {
  epoll_event event{};
  event.events = events;
  event.data.u32 = tag;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    return absl::ErrnoToStatus(errno, "setting up the client: epoll_ctl");
  }
  return absl::OkStatus();
}

}  // namespace switchboard::client
