// SPDX-License-Identifier: MIT
//
// Frames the broker itself originates: REPLY with a status, EVENT, ERROR,
// CANCEL, WELCOME and the MESSAGEs it publishes on its reserved topics. They
// carry sender 0 (docs/PROTOCOL.md 2.1). Forwarded frames are never built here:
// they travel in the buffer they arrived in.
#ifndef SWITCHBOARD_DAEMON_CORE_FRAMES_H_
#define SWITCHBOARD_DAEMON_CORE_FRAMES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/core/ids.h"
#include "switchboard/v1/header.pb.h"
#include "switchboard/version.h"
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

// MESSAGE on `topic` (docs/PROTOCOL.md 6.2) with header
// publish{topic, message_type} and `payload`: what the broker publishes about
// the bus. Request id and sender 0; each subscriber's copy of the prefix gets
// its subscription id when it is written.
wire::Frame BuildBrokerMessage(absl::string_view topic,
                               absl::string_view message_type,
                               absl::string_view payload);

// The broker's reserved topics and its own service (docs/PROTOCOL.md 5.6, 6.2).
inline constexpr absl::string_view kTopicConnectionOpened =
    "switchboard.connection.opened";
inline constexpr absl::string_view kTopicConnectionClosed =
    "switchboard.connection.closed";
// Followed by the service name: "switchboard.name.video.frames".
inline constexpr absl::string_view kTopicNamePrefix = "switchboard.name.";
inline constexpr absl::string_view kBrokerService = "switchboard.Broker";
inline constexpr absl::string_view kGetStatusMethod = "GetStatus";
inline constexpr absl::string_view kListNamesMethod = "ListNames";
inline constexpr absl::string_view kListConnectionsMethod = "ListConnections";
inline constexpr absl::string_view kDescribeMethod = "Describe";
inline constexpr absl::string_view kGetIdentityMethod = "GetIdentity";
inline constexpr absl::string_view kRegisterTypesMethod = "RegisterTypes";
inline constexpr absl::string_view kMonitorMethod = "Monitor";
inline constexpr absl::string_view kStartServiceMethod = "StartService";

// From project(VERSION) in the top CMakeLists.txt, like the library's.
inline constexpr absl::string_view kBrokerVersion = SWITCHBOARD_VERSION_STRING;

// The HELLO/WELCOME feature of a client that receives file descriptors.
inline constexpr absl::string_view kFeatureFds = "fds";

// WELCOME for connection `session`, announcing `limits` (for this
// connection: max_fds_per_frame is 0 on TCP) and, with `fds`, the feature
// kFeatureFds: the broker will pass descriptors to this connection.
wire::Frame BuildWelcome(SessionId session, const wire::Limits& limits,
                         bool fds);

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_FRAMES_H_
