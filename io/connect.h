// SPDX-License-Identifier: MIT
//
// Client-side connection setup shared by the client library and the bench.
#ifndef SWITCHBOARD_IO_CONNECT_H_
#define SWITCHBOARD_IO_CONNECT_H_

#include "absl/status/statusor.h"
#include "base/fd.h"
#include "io/address.h"

namespace switchboard::io {

// Connects a stream socket to `address` (blocking, close-on-exec; TCP gets
// TCP_NODELAY). Errors: kUnavailable when nobody listens there (ENOENT,
// ECONNREFUSED), naming the address; other errno values as ErrnoToStatus.
absl::StatusOr<Fd> ConnectStream(const Address& address);

// Sets or clears O_NONBLOCK. Errors from fcntl as ErrnoToStatus.
absl::Status SetNonBlocking(int fd, bool non_blocking = true);

}  // namespace switchboard::io

#endif  // SWITCHBOARD_IO_CONNECT_H_
