// SPDX-License-Identifier: MIT
//
// The commands of the `switchboard` tool, one per file (command_*.cc), each
// specified in docs/CLI.md. Each runs with the parsed options, prints its
// output to standard output, and returns the status that decides the exit
// code (exit_codes.h); main() prints a failure's line.
#ifndef SWITCHBOARD_CLI_COMMANDS_H_
#define SWITCHBOARD_CLI_COMMANDS_H_

#include "absl/status/status.h"
#include "options.h"

namespace switchboard::cli {

absl::Status RunStatus(const Options& options);
absl::Status RunList(const Options& options);
absl::Status RunConnections(const Options& options);
absl::Status RunDescribe(const Options& options);
absl::Status RunCall(const Options& options);
absl::Status RunPublish(const Options& options);
absl::Status RunSubscribe(const Options& options);
absl::Status RunMonitor(const Options& options);
absl::Status RunTop(const Options& options);
absl::Status RunWait(const Options& options);

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_COMMANDS_H_
