// SPDX-License-Identifier: MIT
//
// Runs the `switchboard` command-line tool under test against a test
// broker, as a shell script would: with arguments and optionally standard
// input, collecting its standard output, standard error and exit code.
//
//   absl::StatusOr<CliResult> listed =
//       RunCli(broker_.address(), {"list", "--json"});
//   EXPECT_EQ(listed->exit_code, 0) << *listed;
//
// Long-running commands (subscribe, monitor, wait) start in the background
// with StartCli(); the test reads their output line by line. Every process
// is killed and reaped at the latest when its ChildProcess goes away.
#ifndef SWITCHBOARD_TESTS_TESTING_CLI_PROCESS_H_
#define SWITCHBOARD_TESTS_TESTING_CLI_PROCESS_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {

// Path of the `switchboard` binary under test.
const char* SwitchboardCliPath();
// Path of the libswitchboard.so.0 it loads (the SONAME's link).
const char* SwitchboardLibraryPath();

// How long a command that should finish promptly may take on a loaded
// machine before the test gives up on it.
inline constexpr absl::Duration kCliTimeout = absl::Seconds(10);

// What one run of the tool did.
struct CliResult {
  int exit_code = -1;  // -1 if a signal ended it
  std::string stdout_text;
  std::string stderr_text;
};
// For failure messages: the exit code, stdout and stderr.
std::ostream& operator<<(std::ostream& out, const CliResult& result);

// The command line of `switchboard --address=ADDRESS ARGS...`.
std::vector<std::string> CliCommand(absl::string_view address,
                                    const std::vector<std::string>& args);

// Runs `switchboard --address=ADDRESS ARGS...` with an empty standard input
// and waits for it to exit; its output is kept byte for byte. Errors:
// kDeadlineExceeded if it still runs after `timeout` (it is killed), or a
// failure to start it.
absl::StatusOr<CliResult> RunCli(absl::string_view address,
                                 const std::vector<std::string>& args,
                                 absl::Duration timeout = kCliTimeout);

// RunCli() with `input` as the tool's standard input.
absl::StatusOr<CliResult> RunCliWithInput(absl::string_view address,
                                          const std::vector<std::string>& args,
                                          absl::string_view input,
                                          absl::Duration timeout = kCliTimeout);

// Starts `switchboard --address=ADDRESS ARGS...` in the background; its
// stdout is read with ChildProcess::ReadLine() and its stderr goes to
// `stderr_path`.
absl::StatusOr<ChildProcess> StartCli(absl::string_view address,
                                      const std::vector<std::string>& args,
                                      const std::string& stderr_path);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_CLI_PROCESS_H_
