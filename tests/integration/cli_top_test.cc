// SPDX-License-Identifier: MIT
//
// `switchboard top`: in a terminal (a private tmux server, so no other tmux
// is touched) it draws the connections table, redraws it, and quits on
// `q`; with --json it prints one snapshot object per interval and quits on
// Ctrl-C (docs/CLI.md).
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/child_process.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/cli_test_base.h"
#include "tests/testing/json_output.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_for.h"

namespace switchboard::testing {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using ::testing::HasSubstr;

constexpr char kTmux[] = "/usr/bin/tmux";

// A tmux server of its own, on the socket name sbtest-PID; the destructor
// kills it and everything running in it.
class TmuxServer {
 public:
  TmuxServer() : socket_name_(absl::StrCat("sbtest-", ::getpid())) {}
  ~TmuxServer() {
    // Fails harmlessly when the server already ended with its last session.
    absl::StatusOr<ProgramResult> killed =
        Run({"kill-server"}, absl::Seconds(10));
    if (!killed.ok()) ADD_FAILURE() << "tmux kill-server: " << killed.status();
    // tmux leaves its socket file behind.
    ::unlink(SocketPath().c_str());
  }
  TmuxServer(const TmuxServer&) = delete;
  TmuxServer& operator=(const TmuxServer&) = delete;

  // Runs `tmux -L SOCKET ARGS...`.
  absl::StatusOr<ProgramResult> Run(const std::vector<std::string>& args,
                                    absl::Duration timeout = kCliTimeout) {
    std::vector<std::string> argv = {kTmux, "-L", socket_name_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, timeout);
  }

  // What the pane of session `session` shows now ("" if tmux fails).
  std::string Capture(const std::string& session) {
    absl::StatusOr<ProgramResult> captured =
        Run({"capture-pane", "-p", "-t", session});
    return captured.ok() && captured->exit_code == 0 ? captured->stdout_text
                                                     : "";
  }

  // Where `tmux -L NAME` puts its socket: $TMUX_TMPDIR or /tmp, then
  // tmux-UID/NAME.
  std::string SocketPath() const {
    const char* folder = std::getenv("TMUX_TMPDIR");
    return absl::StrCat(folder != nullptr && *folder != '\0' ? folder : "/tmp",
                        "/tmux-", ::getuid(), "/", socket_name_);
  }

  bool HasSession(const std::string& session) {
    absl::StatusOr<ProgramResult> has = Run({"has-session", "-t", session});
    return has.ok() && has->exit_code == 0;
  }

 private:
  std::string socket_name_;
};

class CliTopTest : public CliTestBase {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CliTestBase::SetUp());
    ASSERT_NO_FATAL_FAILURE(StartEcho());
  }
};

TEST_F(CliTopTest, TopDrawsTheConnectionsAndQuitsOnQ) {
  TmuxServer tmux;
  const std::string exit_file = absl::StrCat(broker_.dir(), "/top.exit");
  // The shell records top's exit code once it quits.
  const std::string command = absl::StrCat(
      "'", SwitchboardCliPath(), "' --address='", broker_.address(),
      "' top --interval=200ms; echo $? > '", exit_file, "'");
  absl::StatusOr<ProgramResult> started = tmux.Run(
      {"new-session", "-d", "-s", "top", "-x", "200", "-y", "50", command});
  ASSERT_THAT(started, IsOk());
  ASSERT_EQ(started->exit_code, 0) << started->stderr_text;

  std::string screen;
  EXPECT_TRUE(WaitFor(
      [&] {
        screen = tmux.Capture("top");
        return absl::StrContains(screen, "CLIENT") &&
               absl::StrContains(screen, "switchboard_test_echo") &&
               absl::StrContains(screen, "cli-test");
      },
      kWaitTimeout))
      << "the screen shows:\n"
      << screen;

  absl::StatusOr<ProgramResult> quit =
      tmux.Run({"send-keys", "-t", "top", "q"});
  ASSERT_THAT(quit, IsOk());
  EXPECT_TRUE(WaitFor([&] { return !tmux.HasSession("top"); }, kWaitTimeout))
      << "top still runs; the screen shows:\n"
      << tmux.Capture("top");
  absl::StatusOr<std::string> exit_code = ReadFileToString(exit_file);
  ASSERT_THAT(exit_code, IsOk());
  EXPECT_EQ(absl::StripAsciiWhitespace(*exit_code), "0");
}

TEST_F(CliTopTest, TopJsonPrintsASnapshotPerInterval) {
  std::optional<ChildProcess> top =
      StartInBackground({"top", "--json", "--interval=200ms"}, "top");
  ASSERT_TRUE(top.has_value());
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::string> line = top->ReadLine(kWaitTimeout);
    ASSERT_THAT(line, IsOk()) << BackgroundStderr("top");
    absl::StatusOr<Struct> snapshot = ParseJsonObject(*line);
    ASSERT_THAT(snapshot, IsOk());
    const auto& fields = snapshot->fields();
    for (const char* key :
         {"time", "interval_s", "uptime_us", "connection_count", "name_count",
          "frames_in_per_s", "frames_out_per_s", "bytes_in_per_s",
          "bytes_out_per_s", "messages_dropped", "dropped_per_s"}) {
      EXPECT_TRUE(fields.contains(key)) << "no \"" << key << "\" in " << *line;
    }
    if (fields.contains("interval_s")) {
      EXPECT_GT(fields.at("interval_s").number_value(), 0) << *line;
    }
    ASSERT_TRUE(fields.contains("connections")) << *line;
    const Struct* echo = nullptr;
    for (const Value& connection :
         fields.at("connections").list_value().values()) {
      const auto& entry = connection.struct_value().fields();
      if (entry.contains("client_name") &&
          entry.at("client_name").string_value() == "switchboard_test_echo") {
        echo = &connection.struct_value();
      }
    }
    ASSERT_NE(echo, nullptr) << *line;
    for (const char* key :
         {"connection_id", "pid", "frames_in_per_s", "frames_out_per_s",
          "bytes_in_per_s", "bytes_out_per_s", "queued_bytes",
          "subscriptions"}) {
      ASSERT_TRUE(echo->fields().contains(key)) << key << " in " << *line;
      EXPECT_TRUE(echo->fields().at(key).has_number_value())
          << key << " in " << *line;
    }
    EXPECT_EQ(echo->fields().at("pid").number_value(), echo_->pid()) << *line;
    ASSERT_TRUE(echo->fields().contains("names")) << *line;
    EXPECT_EQ(ToJson(echo->fields().at("names")), R"(["test.echo"])");
  }
  EXPECT_THAT(top->Stop(SIGINT, kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("top");
}

TEST_F(CliTopTest, TopWithoutATerminalSeparatesScreensAndQuitsOnQ) {
  // Its stdin (/dev/null) ends at once; it goes on until a signal.
  std::optional<ChildProcess> top =
      StartInBackground({"top", "--interval=100ms"}, "top");
  ASSERT_TRUE(top.has_value());
  bool form_feed = false;
  while (true) {
    absl::StatusOr<std::string> line = top->ReadLine(kWaitTimeout);
    ASSERT_THAT(line, IsOk()) << BackgroundStderr("top");
    if (absl::StrContains(*line, "\f")) form_feed = true;
    if (form_feed && absl::StrContains(*line, "switchboard_test_echo")) break;
  }
  EXPECT_THAT(top->Stop(SIGTERM, kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("top");

  const CliResult quit = RunWithInput({"top", "--interval=100ms"}, "q");
  EXPECT_EQ(quit.exit_code, 0) << quit;
}

}  // namespace
}  // namespace switchboard::testing
