// SPDX-License-Identifier: MIT
#include "tests/testing/cli_test_base.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/cli_services.h"
#include "tests/testing/clients.h"

namespace switchboard::testing {
namespace {

CliResult OrFailure(absl::StatusOr<CliResult> result,
                    const std::vector<std::string>& args) {
  if (result.ok()) return *std::move(result);
  ADD_FAILURE() << "switchboard " << ::testing::PrintToString(args) << ": "
                << result.status();
  return CliResult{};
}

uint64_t ConnectionIdOf(Client& client, const std::optional<ChildProcess>& p,
                        absl::string_view what) {
  if (!p.has_value()) {
    ADD_FAILURE() << what << " is not running";
    return 0;
  }
  absl::StatusOr<v1::ConnectionInfo> connection =
      FindConnectionOf(client, p->pid());
  if (!connection.ok()) {
    ADD_FAILURE() << what << ": " << connection.status();
    return 0;
  }
  return connection->connection_id();
}

}  // namespace

CliTestBase::CliTestBase() {
  if (broker_.started()) client_ = ConnectOrDie(broker_, "cli-test");
}

void CliTestBase::SetUp() {
  ASSERT_TRUE(broker_.started());
  ASSERT_NE(client_, nullptr);
}

CliResult CliTestBase::Run(const std::vector<std::string>& args,
                           absl::Duration timeout) {
  return OrFailure(RunCli(broker_.address(), args, timeout), args);
}

CliResult CliTestBase::RunWithInput(const std::vector<std::string>& args,
                                    absl::string_view input,
                                    absl::Duration timeout) {
  return OrFailure(RunCliWithInput(broker_.address(), args, input, timeout),
                   args);
}

std::optional<ChildProcess> CliTestBase::StartInBackground(
    const std::vector<std::string>& args, const std::string& label) {
  absl::StatusOr<ChildProcess> process =
      StartCli(broker_.address(), args,
               absl::StrCat(broker_.dir(), "/", label, ".stderr"));
  if (!process.ok()) {
    ADD_FAILURE() << "start switchboard " << ::testing::PrintToString(args)
                  << ": " << process.status();
    return std::nullopt;
  }
  return *std::move(process);
}

std::string CliTestBase::BackgroundStderr(const std::string& label) const {
  absl::StatusOr<std::string> text =
      ReadFileToString(absl::StrCat(broker_.dir(), "/", label, ".stderr"));
  return text.ok() ? *text : text.status().ToString();
}

void CliTestBase::StartEcho() {
  ASSERT_TRUE(broker_.started());
  absl::StatusOr<ChildProcess> echo =
      StartTestEcho(broker_, "test.echo", kWaitTimeout);
  ASSERT_TRUE(echo.ok()) << echo.status();
  echo_.emplace(*std::move(echo));
}

void CliTestBase::StartVideoServer() {
  ASSERT_TRUE(broker_.started());
  absl::StatusOr<ChildProcess> video =
      switchboard::testing::StartVideoServer(broker_, kWaitTimeout);
  ASSERT_TRUE(video.ok()) << video.status();
  video_.emplace(*std::move(video));
}

uint64_t CliTestBase::EchoConnectionId() {
  return ConnectionIdOf(*client_, echo_, "switchboard_test_echo");
}

uint64_t CliTestBase::VideoConnectionId() {
  return ConnectionIdOf(*client_, video_, "video-server");
}

std::string ErrorPrefix(absl::string_view code_name) {
  return absl::StrCat("switchboard: ", code_name, ": ");
}

}  // namespace switchboard::testing
