// SPDX-License-Identifier: MIT
//
// Setting up a connection for Client::Impl, at the start and after each
// reconnect: what the broker's WELCOME allows, and the socket's place in the
// dispatch thread's epoll set.
#ifndef SWITCHBOARD_CLIENT_SRC_CONNECTION_SETUP_H_
#define SWITCHBOARD_CLIENT_SRC_CONNECTION_SETUP_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/src/handshake.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame_decoder.h"

namespace switchboard::client {

// Tags in epoll_event.data.u32.
inline constexpr uint32_t kTagRead = 1;
inline constexpr uint32_t kTagWrite = 2;
inline constexpr uint32_t kTagWake = 3;

// Longest a synchronous caller blocks in one recv() before it checks its
// deadline again.
inline constexpr absl::Duration kReadWaitSlice = absl::Milliseconds(200);

// The limits frames from the broker are decoded with.
wire::Limits ClientLimits(const v1::Welcome& welcome);
// Whether this client may send descriptors: WELCOME's max_fds_per_frame is
// what a client may send (its "fds" feature says only that it will receive
// them), and only over a Unix socket.
bool FdsEnabled(const Handshake& handshake);
// Descriptors per frame this client may send.
uint32_t MaxFdsPerFrame(const v1::Welcome& welcome);
// The socket stays blocking: non-blocking reads and writes say
// MSG_DONTWAIT, and a synchronous caller blocks in recv() for its reply, at
// most kReadWaitSlice at a time.
absl::Status SetReadSlice(int fd);
// Adds `fd` to the epoll set with `events` and `tag`.
absl::Status WatchFd(int epoll_fd, int fd, uint32_t events, uint32_t tag);

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_CONNECTION_SETUP_H_
