// SPDX-License-Identifier: MIT
//
// Frames the broker itself originates: REPLY with a status, EVENT, ERROR,
// CANCEL and WELCOME. They carry sender 0 (docs/PROTOCOL.md 2.1). Forwarded
// frames are never built here: they travel in the buffer they arrived in.
#ifndef SWITCHBOARD_DAEMON_CORE_FRAMES_H_
#define SWITCHBOARD_DAEMON_CORE_FRAMES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/core/ids.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"
#include "wire/limits.h"

namespace switchboard::core {

// REPLY carrying `status`; an OK status gets an empty header, as the
// protocol allows, so PING answers cost no serialization.
wire::Frame BuildReply(RequestId request_id, const absl::Status& status,
                       absl::string_view payload = {});

// EVENT with request id 0.
wire::Frame BuildEvent(const v1::Event& event);

// ERROR for `status`; `limit_name`/`limit_value` when a limit was exceeded.
// An UNIMPLEMENTED error lists the supported protocol versions.
wire::Frame BuildError(const absl::Status& status,
                       absl::string_view limit_name = {},
                       uint64_t limit_value = 0);

// CANCEL the broker sends a callee for a call it ended (deadline, caller
// gone), with an empty header.
wire::Frame BuildCancel(RequestId broker_request_id);

inline constexpr absl::string_view kBrokerVersion = "0.1.0";

// The HELLO/WELCOME feature of a client that receives file descriptors.
inline constexpr absl::string_view kFeatureFds = "fds";

// WELCOME for connection `session`, announcing `limits` (for this
// connection: max_fds_per_frame is 0 on TCP) and, with `fds`, the feature
// kFeatureFds: the broker will pass descriptors to this connection.
wire::Frame BuildWelcome(SessionId session, const wire::Limits& limits,
                         bool fds);

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_FRAMES_H_
