// SPDX-License-Identifier: MIT
//
// The broker's check of the buffers a CALL or REPLY carries as file
// descriptors (docs/PROTOCOL.md 2.5): each must be a memfd whose size is
// sealed, so no receiver's mapping can shrink under it (SIGBUS). Asks the
// kernel (F_GET_SEALS) without mapping or reading the buffer.
#ifndef SWITCHBOARD_DAEMON_SERVER_BUFFER_SEALS_H_
#define SWITCHBOARD_DAEMON_SERVER_BUFFER_SEALS_H_

#include <vector>

#include "absl/status/status.h"
#include "base/fd.h"

namespace switchboard::server {

// OK if every descriptor is a memfd sealed with F_SEAL_SHRINK, F_SEAL_GROW
// and F_SEAL_SEAL (and F_SEAL_WRITE when `require_write_seal`). Errors:
// kInvalidArgument naming the first bad buffer's index and the seals it
// lacks, or saying that it is not a memfd.
absl::Status CheckBufferSeals(const std::vector<Fd>& fds,
                              bool require_write_seal);

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_BUFFER_SEALS_H_
