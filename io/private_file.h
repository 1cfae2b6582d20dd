// SPDX-License-Identifier: MIT
//
// Files and folders only their owner may use: the folder that holds the bus
// socket (mode 0700) and the TCP token file (mode 0600). The broker creates
// them; anything that can read the token is trusted as the same user, so a
// token file that others can read is refused rather than used.
#ifndef SWITCHBOARD_IO_PRIVATE_FILE_H_
#define SWITCHBOARD_IO_PRIVATE_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard::io {

// Creates folder `path`, and any missing parents, with mode 0700. An existing
// folder is kept as it is, but must be owned by this user or by root (so a
// folder another user made in /tmp cannot hold our socket). Errors:
// kFailedPrecondition naming the path when it is not a folder or belongs to
// another user; mkdir/stat failures as ErrnoToStatus naming the path.
absl::Status CreatePrivateDirectory(absl::string_view path);

// The folder part of `path` ("." when it has none).
std::string DirectoryOf(absl::string_view path);

// Reads a file that must be private: a regular file owned by this user, with
// no permission bits for group or others, at most `max_bytes` long. Errors:
// kNotFound if it does not exist; kPermissionDenied naming the path and mode
// when group or others have access, or another user owns it;
// kFailedPrecondition if it is not a regular file or is too long; other
// failures as ErrnoToStatus.
absl::StatusOr<std::string> ReadPrivateFile(absl::string_view path,
                                            size_t max_bytes);

// Creates `path` with mode 0600 holding `contents`. Errors: kAlreadyExists
// if the file exists (it is never overwritten); others as ErrnoToStatus.
absl::Status CreatePrivateFile(absl::string_view path,
                               absl::string_view contents);

}  // namespace switchboard::io

#endif  // SWITCHBOARD_IO_PRIVATE_FILE_H_
