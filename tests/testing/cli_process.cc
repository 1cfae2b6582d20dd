// SPDX-License-Identifier: MIT
#include "tests/testing/cli_process.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/fd.h"

namespace switchboard::testing {
namespace {

// Writes `contents` to a new temporary file and returns its path.
absl::StatusOr<std::string> WriteTempFile(absl::string_view contents) {
  char path[] = "/tmp/sbt-cli-XXXXXX";
  Fd fd(::mkostemp(path, O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, "mkstemp");
  absl::string_view left = contents;
  while (!left.empty()) {
    const ssize_t n = ::write(fd.get(), left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::unlink(path);
      return absl::ErrnoToStatus(err, absl::StrCat("write ", path));
    }
    left.remove_prefix(static_cast<size_t>(n));
  }
  return std::string(path);
}

}  // namespace

const char* SwitchboardCliPath() { return SWITCHBOARD_CLI_PATH; }
const char* SwitchboardLibraryPath() { return SWITCHBOARD_LIBRARY_PATH; }

std::ostream& operator<<(std::ostream& out, const CliResult& result) {
  return out << "exit code " << result.exit_code << "\n--- stdout:\n"
             << result.stdout_text << "--- stderr:\n"
             << result.stderr_text << "---";
}

std::vector<std::string> CliCommand(absl::string_view address,
                                    const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SwitchboardCliPath(),
                                   absl::StrCat("--address=", address)};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

absl::StatusOr<CliResult> RunCli(absl::string_view address,
                                 const std::vector<std::string>& args,
                                 absl::Duration timeout) {
  return RunCliWithInput(address, args, "", timeout);
}

absl::StatusOr<CliResult> RunCliWithInput(absl::string_view address,
                                          const std::vector<std::string>& args,
                                          absl::string_view input,
                                          absl::Duration timeout) {
  absl::StatusOr<std::string> input_path = WriteTempFile(input);
  if (!input_path.ok()) return input_path.status();
  absl::StatusOr<std::string> stdout_path = WriteTempFile("");
  absl::StatusOr<std::string> stderr_path = WriteTempFile("");
  absl::StatusOr<CliResult> result = [&]() -> absl::StatusOr<CliResult> {
    if (!stdout_path.ok()) return stdout_path.status();
    if (!stderr_path.ok()) return stderr_path.status();
    // Output goes to files, not pipes, so that it is kept byte for byte
    // (--raw writes binary, and the last line may lack its newline). The
    // shell opens them and becomes the tool (exec).
    std::vector<std::string> argv = {
        "/bin/sh",
        "-c",
        "out=$1 err=$2; shift 2; exec \"$@\" < \"$0\" > \"$out\" 2> \"$err\"",
        *input_path,
        *stdout_path,
        *stderr_path};
    std::vector<std::string> command = CliCommand(address, args);
    argv.insert(argv.end(), command.begin(), command.end());
    absl::StatusOr<ChildProcess> child = ChildProcess::Start(argv, "");
    if (!child.ok()) return child.status();
    CliResult out;
    absl::StatusOr<int> code = child->Wait(timeout);
    if (code.ok()) {
      out.exit_code = *code;
    } else if (!absl::IsAborted(code.status())) {
      return code.status();  // still running: the destructor kills it
    }
    absl::StatusOr<std::string> stdout_text = ReadFileToString(*stdout_path);
    if (!stdout_text.ok()) return stdout_text.status();
    absl::StatusOr<std::string> stderr_text = ReadFileToString(*stderr_path);
    if (!stderr_text.ok()) return stderr_text.status();
    out.stdout_text = *std::move(stdout_text);
    out.stderr_text = *std::move(stderr_text);
    return out;
  }();
  for (const absl::StatusOr<std::string>* path :
       {&input_path, &stdout_path, &stderr_path}) {
    if (path->ok()) ::unlink((*path)->c_str());
  }
  return result;
}

absl::StatusOr<ChildProcess> StartCli(absl::string_view address,
                                      const std::vector<std::string>& args,
                                      const std::string& stderr_path) {
  return ChildProcess::Start(CliCommand(address, args), stderr_path);
}

}  // namespace switchboard::testing
