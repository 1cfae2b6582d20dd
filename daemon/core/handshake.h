// SPDX-License-Identifier: MIT
//
// The broker's side of the HELLO/WELCOME handshake (docs/PROTOCOL.md 4.1):
// what a connection's first frame must be, and the TCP token check. The
// server calls this for the first frame and answers with BuildWelcome() or
// BuildError(); a wrong protocol version never gets here, the frame decoder
// refuses it first.
#ifndef SWITCHBOARD_DAEMON_CORE_HANDSHAKE_H_
#define SWITCHBOARD_DAEMON_CORE_HANDSHAKE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/header.pb.h"
#include "wire/frame.h"

namespace switchboard::core {

// Checks a connection's first frame and returns its HELLO. `expected_token`
// is required when `token_required` (TCP). Errors, each the ERROR code to
// answer with before closing: kInvalidArgument if the frame is not a HELLO
// or its header does not hold one; kPermissionDenied if the token is
// required and missing or wrong.
absl::StatusOr<v1::Hello> CheckHello(const wire::Frame& frame,
                                     bool token_required,
                                     absl::string_view expected_token);

// Compares two secrets in time that depends only on their lengths, not on
// where they first differ, so a wrong guess reveals nothing about the token.
bool SecretsEqual(absl::string_view a, absl::string_view b);

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_HANDSHAKE_H_
