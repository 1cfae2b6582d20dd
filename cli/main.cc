// SPDX-License-Identifier: MIT
//
// switchboard, the command-line tool of the bus (docs/CLI.md): parses the
// command line, runs the command, and turns its status into the exit code.
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "commands.h"
#include "exit_codes.h"
#include "google/protobuf/stubs/logging.h"
#include "options.h"

namespace switchboard::cli {
namespace {

absl::Status Dispatch(const Options& options) {
  const std::string& c = options.command;
  if (c == "status") return RunStatus(options);
  if (c == "list") return RunList(options);
  if (c == "connections") return RunConnections(options);
  if (c == "describe") return RunDescribe(options);
  if (c == "call") return RunCall(options);
  if (c == "publish") return RunPublish(options);
  if (c == "subscribe") return RunSubscribe(options);
  if (c == "monitor") return RunMonitor(options);
  if (c == "top") return RunTop(options);
  return RunWait(options);
}

int Main(int argc, char** argv) {
  // Protobuf's own log lines (a bad descriptor) would repeat the errors the
  // tool reports in its own words.
  google::protobuf::SetLogHandler(nullptr);
  absl::StatusOr<CommandLine> command_line = ParseCommandLine(argc, argv);
  if (!command_line.ok()) {
    const std::string command = FindCommandName(argc, argv);
    std::fprintf(stderr, "%s\nRun 'switchboard %s--help' for usage.\n",
                 ErrorLine(command_line.status()).c_str(),
                 command.empty() ? "" : absl::StrCat(command, " ").c_str());
    return kExitUsage;
  }
  if (!command_line->options.has_value()) {
    std::fputs(command_line->help.c_str(), stdout);
    return kExitOk;
  }
  const absl::Status status = Dispatch(*command_line->options);
  std::fflush(stdout);
  if (status.ok()) return kExitOk;
  std::fprintf(stderr, "%s\n", ErrorLine(status).c_str());
  return ExitCodeFor(status.code());
}

}  // namespace
}  // namespace switchboard::cli

int main(int argc, char** argv) { return switchboard::cli::Main(argc, argv); }
