// SPDX-License-Identifier: MIT
//
// Peer: a session's identity as the router stamps it into what the session
// sends. Apart from router.h so that tables which keep frames for later
// (core::Activations) can remember who sent them.
#ifndef SWITCHBOARD_DAEMON_CORE_PEER_H_
#define SWITCHBOARD_DAEMON_CORE_PEER_H_

#include <cstdint>

#include "daemon/core/ids.h"

namespace switchboard::core {

// The sending session's identity, stamped into what it sends.
struct Peer {
  SessionId id;
  uint32_t uid = 0;
  uint32_t pid = 0;
  // It receives file descriptors (docs/PROTOCOL.md 2.5): stamped as the
  // SENDER_ACCEPTS_FDS flag on what it sends.
  bool accepts_fds = false;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_PEER_H_
