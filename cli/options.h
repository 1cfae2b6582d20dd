// SPDX-License-Identifier: MIT
//
// The command line of the `switchboard` tool: which command, its arguments,
// the global flags (--address, --json, --timeout) and the flags some commands
// take (--type, --raw, --count, --interval), and the text of --help for the
// tool and for each command. Flags may come before or after the command.
#ifndef SWITCHBOARD_CLI_OPTIONS_H_
#define SWITCHBOARD_CLI_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard::cli {

// What one run of the tool was asked to do.
struct Options {
  std::string command;
  std::vector<std::string> args;  // after the command, flags removed
  std::string address;            // empty: $SWITCHBOARD_ADDRESS or default
  bool json = false;
  std::optional<absl::Duration> timeout;  // only when --timeout was given
  std::string type;                       // describe, publish
  bool raw = false;                       // call, publish
  int64_t count = 0;                      // subscribe, monitor; 0: no limit
  absl::Duration interval = absl::Seconds(1);  // top

  // --timeout, or `fallback` when it was not given.
  absl::Duration TimeoutOr(absl::Duration fallback) const {
    return timeout.value_or(fallback);
  }
};

// The outcome of parsing a command line: a command to run, or help to print
// (to standard output, exit 0).
struct CommandLine {
  std::optional<Options> options;
  std::string help;
};

// Parses argv. Errors (kInvalidArgument, message for the user, exit 2): no
// or an unknown command, an unknown flag or one the command does not take, a
// bad flag value, missing or extra arguments.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, char** argv);

// The tool's own --help: usage, the commands, the global flags, exit codes.
std::string ToolHelp();

// The command named in a command line that failed to parse, if any, so the
// usage error can point at the right --help.
std::string FindCommandName(int argc, char** argv);

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_OPTIONS_H_
