// SPDX-License-Identifier: MIT
//
// Opens a connection to the broker and performs the HELLO/WELCOME handshake
// (docs/PROTOCOL.md, section 4.1) on a blocking socket, before the client's
// dispatch thread exists.
#ifndef SWITCHBOARD_CLIENT_SRC_HANDSHAKE_H_
#define SWITCHBOARD_CLIENT_SRC_HANDSHAKE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "base/fd.h"
#include "io/address.h"
#include "switchboard/client.h"
#include "switchboard/v1/header.pb.h"

namespace switchboard::client {

struct Handshake {
  Fd fd;  // connected, still blocking
  io::Address address;
  v1::Welcome welcome;
};

// Lets the dispatch thread abandon a reconnect attempt when the client
// closes: while the handshake waits for the WELCOME it also watches
// `wake_fd` (an eventfd, drained when readable) and gives up with
// kCancelled once `stop()` is true.
struct HandshakeCancel {
  int wake_fd = -1;
  std::function<bool()> stop;
};

// Errors: as Client::Connect documents; kCancelled as above.
absl::StatusOr<Handshake> ConnectAndGreet(
    absl::string_view address, const ConnectOptions& options,
    const HandshakeCancel* cancel = nullptr);

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_HANDSHAKE_H_
