// SPDX-License-Identifier: MIT
//
// The TCP token (docs/PROTOCOL.md 1): a secret in a 0600 file that a TCP
// client must send in HELLO, proving it can read the broker user's files.
// The broker reads it at startup, or creates it when missing.
#ifndef SWITCHBOARD_DAEMON_SERVER_TOKEN_H_
#define SWITCHBOARD_DAEMON_SERVER_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::server {

// Returns the token stored in `path`. A missing file is created (with its
// folder, mode 0700) holding 32 random bytes as 64 lowercase hex characters,
// mode 0600, no newline. An existing file is used as it is, without a
// trailing newline. Errors: kPermissionDenied if group or others may read
// the file or another user owns it; kFailedPrecondition if it is empty,
// too long, or holds whitespace or control characters inside; I/O errors
// naming the path.
absl::StatusOr<std::string> LoadOrCreateToken(absl::string_view path);

// 32 bytes from getrandom(), as 64 lowercase hex characters.
absl::StatusOr<std::string> NewToken();

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_TOKEN_H_
