// SPDX-License-Identifier: MIT
#include "bench/broker.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace switchboard::bench {
namespace {

constexpr absl::Duration kReadyTimeout = absl::Seconds(30);
constexpr absl::Duration kStopTimeout = absl::Seconds(10);
// sun_path holds 108 bytes with its terminating NUL.
constexpr size_t kMaxSocketPath = 107;

// A new private folder for the socket: under $TMPDIR when the socket path
// fits there, else under /tmp.
absl::StatusOr<std::string> MakeFolder() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  std::string pattern = absl::StrCat(base, "/switchboard-bench-XXXXXX");
  if (pattern.size() + 4 > kMaxSocketPath)
    pattern = "/tmp/switchboard-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdtemp ", pattern));
  }
  return pattern;
}

}  // namespace

absl::StatusOr<std::string> FindBroker(absl::string_view flag,
                                       absl::string_view self_path) {
  if (!flag.empty()) {
    if (::access(std::string(flag).c_str(), X_OK) != 0) {
      return absl::NotFoundError(
          absl::StrCat("--broker=", flag, ": not an executable file"));
    }
    return std::string(flag);
  }
  std::filesystem::path dir =
      std::filesystem::path(std::string(self_path)).parent_path();
  std::string build_tree =
      (dir / ".." / "daemon" / "switchboardd").lexically_normal();
  std::string installed = dir / "switchboardd";
  for (const std::string& candidate : {build_tree, installed}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(
      "switchboardd is neither at ", build_tree, " nor at ", installed,
      "; build it, pass --broker=PATH, or leave switchboard out of --systems"));
}

absl::StatusOr<std::unique_ptr<BrokerProcess>> BrokerProcess::Start(
    const std::string& path) {
  absl::StatusOr<std::string> folder = MakeFolder();
  if (!folder.ok()) return folder.status();
  // Owns the folder from here on, so every early return removes it.
  std::unique_ptr<BrokerProcess> broker(new BrokerProcess(*folder));
  ChildProcess::Options options;
  options.name = "switchboardd";
  options.argv = {path, absl::StrCat("--address=unix:", *folder, "/bus"),
                  "--print-address", "--log-level=warning"};
  absl::StatusOr<ChildProcess> process = ChildProcess::Start(options);
  if (!process.ok()) return process.status();
  broker->process_ = *std::move(process);
  // The broker prints its address once it listens: the readiness signal.
  absl::StatusOr<std::string> line = broker->process_->ReadLine(kReadyTimeout);
  if (!line.ok()) return line.status();
  broker->address_ = *line;
  return broker;
}

BrokerProcess::~BrokerProcess() {
  process_.reset();         // kills and reaps it if Stop() did not
  std::error_code ignored;  // best effort: nothing to do about a failure here
  std::filesystem::remove_all(folder_, ignored);
}

absl::Status BrokerProcess::CheckRunning() {
  if (!process_) return absl::UnavailableError("switchboardd is not running");
  absl::StatusOr<std::optional<int>> exit =
      process_->WaitFor(absl::ZeroDuration());
  if (!exit.ok()) return exit.status();
  if (!exit->has_value()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("switchboardd has ended: ", DescribeWaitStatus(**exit)));
}

absl::Status BrokerProcess::Stop() {
  if (!process_) return absl::OkStatus();
  if (absl::Status running = CheckRunning(); !running.ok()) {
    return absl::InternalError(running.message());  // died during the run
  }
  absl::StatusOr<int> exit = process_->Terminate(kStopTimeout);
  if (!exit.ok()) return exit.status();
  if (*exit != 0) {
    return absl::InternalError(absl::StrCat("switchboardd ended with ",
                                            DescribeWaitStatus(*exit),
                                            " after SIGTERM, not exit 0"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::bench
