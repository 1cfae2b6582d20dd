// SPDX-License-Identifier: MIT
//
// The exit codes of the `switchboard` tool (docs/CLI.md, "Exit codes and
// errors"): every failure ends as one absl::Status, and its code picks the
// exit code, whether the status came from the tool, the broker or the called
// service. Usage errors (unknown command or flag, wrong arguments) are not
// statuses of the bus and have their own code.
#ifndef SWITCHBOARD_CLI_EXIT_CODES_H_
#define SWITCHBOARD_CLI_EXIT_CODES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInvalidInput = 3;
inline constexpr int kExitNotFound = 4;
inline constexpr int kExitTimeout = 5;
inline constexpr int kExitPermissionDenied = 6;
inline constexpr int kExitUnavailable = 7;

// The exit code for a status code: 0 for OK, else the table of docs/CLI.md.
int ExitCodeFor(absl::StatusCode code);

// "switchboard: NOT_FOUND: no owner for video.frames": the line written to
// standard error for a failed command.
std::string ErrorLine(const absl::Status& status);

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_EXIT_CODES_H_
