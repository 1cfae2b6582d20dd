// SPDX-License-Identifier: MIT
//
// Syntax of service and method names (docs/PROTOCOL.md 5.1). The registry
// checks names before a claim; the router checks them on every CALL.
#ifndef SWITCHBOARD_DAEMON_CORE_NAMES_H_
#define SWITCHBOARD_DAEMON_CORE_NAMES_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard::core {

inline constexpr size_t kMaxNameBytes = 255;
// Service names under this prefix belong to the broker.
inline constexpr absl::string_view kReservedPrefix = "switchboard.";

// A service name is 1 to 255 bytes of dot-separated, non-empty tokens made of
// A-Z a-z 0-9 _ -. Errors: kInvalidArgument saying what is wrong.
absl::Status ValidateServiceName(absl::string_view name);

// ValidateServiceName(), and also refuses the reserved "switchboard." prefix
// (kInvalidArgument): the check for a name a client wants to own.
absl::Status ValidateClaimableName(absl::string_view name);

// A method name is 1 to 255 bytes of A-Z a-z 0-9 _ - and '.'.
// Errors: kInvalidArgument saying what is wrong.
absl::Status ValidateMethodName(absl::string_view name);

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_NAMES_H_
