// SPDX-License-Identifier: MIT
//
// CliTestBase: the fixture of the tests of the `switchboard` tool. Each test
// gets its own switchboardd on a temporary Unix socket, a library
// connection to it (for checking what the tool did, and for the broker's
// admin answers), and on request switchboard_test_echo serving "test.echo"
// and video-server serving "video.frames". Every process it starts is
// killed and reaped when the test ends, before the broker stops.
#ifndef SWITCHBOARD_TESTS_TESTING_CLI_TEST_BASE_H_
#define SWITCHBOARD_TESTS_TESTING_CLI_TEST_BASE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/cli_process.h"

namespace switchboard::testing {

// Long enough never to expire on a loaded machine when things work.
inline constexpr absl::Duration kWaitTimeout = absl::Seconds(10);

class CliTestBase : public ::testing::Test {
 protected:
  CliTestBase();
  // Fails the test if the broker did not start. Fixtures that override it
  // call it first.
  void SetUp() override;

  // Runs `switchboard ARGS...` against the test broker. If the tool cannot
  // be run, or runs past `timeout`, the test fails and exit_code is -1.
  CliResult Run(const std::vector<std::string>& args,
                absl::Duration timeout = kCliTimeout);
  // Run() with `input` on the tool's standard input.
  CliResult RunWithInput(const std::vector<std::string>& args,
                         absl::string_view input,
                         absl::Duration timeout = kCliTimeout);
  // Starts `switchboard ARGS...` in the background; its stderr goes to
  // DIR/`label`.stderr (see BackgroundStderr()). Fails the test (and
  // returns nullopt) if it cannot start.
  std::optional<ChildProcess> StartInBackground(
      const std::vector<std::string>& args, const std::string& label);
  // What the background command `label` wrote to stderr so far.
  std::string BackgroundStderr(const std::string& label) const;

  // Start switchboard_test_echo ("test.echo") and video-server; use with
  // ASSERT_NO_FATAL_FAILURE.
  void StartEcho();
  void StartVideoServer();

  // Connection ids of the services, from the broker's ListConnections.
  uint64_t EchoConnectionId();
  uint64_t VideoConnectionId();

  BrokerProcess broker_;
  // The test's own connection to the broker, named "cli-test".
  std::unique_ptr<Client> client_;
  std::optional<ChildProcess> echo_;
  std::optional<ChildProcess> video_;
};

// The error line the tool prints for a status code, e.g.
// "switchboard: NOT_FOUND: ".
std::string ErrorPrefix(absl::string_view code_name);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_CLI_TEST_BASE_H_
