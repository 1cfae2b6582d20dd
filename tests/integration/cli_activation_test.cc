// SPDX-License-Identifier: MIT
//
// The `switchboard` tool and service activation: `list` shows activatable
// names, `call` with JSON starts the program (the schema comes from it),
// and `wait` starts it and returns its owner. The real
// broker reads an activation file naming switchboard_test_echo behind a
// /bin/sh wrapper that records its pid, so the test counts the starts and
// kills what the broker started (while the broker runs, to reap it).
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/cli_services.h"
#include "tests/testing/json_output.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/wait_for.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);

class CliActivationTest : public ::testing::Test {
 protected:
  CliActivationTest() {
    const std::string services = dir_ + "/services";
    ::mkdir(services.c_str(), 0700);
    pids_file_ = dir_ + "/pids";
    std::ofstream(services + "/test.echo.activation")
        << "name: \"test.echo\"\ncommand {\n  argv: \"/bin/sh\"\n  argv: "
           "\"-c\"\n"
        << "  argv: \"echo $$ >> '" << pids_file_ << "'; exec '"
        << TestEchoPath() << "'\"\n}\n";
    // A program that exits before claiming its name.
    std::ofstream(services + "/test.broken.activation")
        << "name: \"test.broken\"\ncommand {\n  argv: \"/bin/sh\"\n  argv: "
           "\"-c\"\n  argv: \"exit 3\"\n}\n";
    BrokerOptions options;
    options.flags = {absl::StrCat("--activation-dir=", services)};
    broker_.emplace(options);
  }

  ~CliActivationTest() override {
    for (pid_t pid : Started()) {
      ::kill(pid, SIGKILL);
      EXPECT_TRUE(WaitFor(
          [pid] { return ::kill(pid, 0) != 0 && errno == ESRCH; }, kWait));
    }
    broker_.reset();
  }

  std::vector<pid_t> Started() const {
    std::ifstream in(pids_file_);
    std::vector<pid_t> pids;
    std::string line;
    while (std::getline(in, line)) {
      int pid = 0;
      if (absl::SimpleAtoi(line, &pid)) pids.push_back(pid);
    }
    return pids;
  }

  CliResult Run(const std::vector<std::string>& args) {
    absl::StatusOr<CliResult> result = RunCli(broker_->address(), args, kWait);
    EXPECT_THAT(result.status(), IsOk());
    return result.ok() ? *result : CliResult{};
  }

  // The words of the table row whose first cell is `name`.
  static std::vector<std::string> Row(absl::string_view table,
                                      absl::string_view name) {
    for (absl::string_view line : absl::StrSplit(table, '\n')) {
      std::vector<std::string> cells =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (!cells.empty() && cells[0] == name) return cells;
    }
    return {};
  }

  TempDir temp_{"sb-cliact"};  // outlives the broker that runs in it
  const std::string dir_ = temp_.path();
  std::string pids_file_;
  std::optional<BrokerProcess> broker_;
};

TEST_F(CliActivationTest, ListShowsAnActivatableName) {
  const CliResult human = Run({"list"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_THAT(human.stdout_text, HasSubstr("STATE"));
  const std::vector<std::string> row = Row(human.stdout_text, "test.echo");
  ASSERT_GE(row.size(), 3u) << human;
  EXPECT_EQ(row[1], "activatable");
  EXPECT_EQ(row[2], "-");

  const CliResult json = Run({"list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::NameList> list = ParseJson<v1::NameList>(json.stdout_text);
  ASSERT_THAT(list.status(), IsOk());
  // Sorted by name.
  ASSERT_EQ(list->activatable_size(), 2);
  EXPECT_EQ(list->activatable(0).name(), "test.broken");
  EXPECT_EQ(list->activatable(1).name(), "test.echo");
  EXPECT_EQ(list->activatable(1).owner(), 0u);
  EXPECT_TRUE(Started().empty());
}

TEST_F(CliActivationTest, CallStartsTheServiceAndThenListShowsItOwned) {
  const CliResult call =
      Run({"call", "test.echo", "Echo", R"({"text": "hello"})"});
  ASSERT_EQ(call.exit_code, 0) << call << broker_->ReadStderr();
  EXPECT_THAT(call.stdout_text, HasSubstr("hello"));
  EXPECT_EQ(Started().size(), 1u);

  const CliResult human = Run({"list"});
  ASSERT_EQ(human.exit_code, 0) << human;
  const std::vector<std::string> row = Row(human.stdout_text, "test.echo");
  ASSERT_GE(row.size(), 3u) << human;
  EXPECT_EQ(row[1], "owned");
  EXPECT_NE(row[2], "-");
}

TEST_F(CliActivationTest, WaitStartsAnActivatableServiceAndPrintsItsOwner) {
  const CliResult wait = Run({"wait", "test.echo", "--json"});
  ASSERT_EQ(wait.exit_code, 0) << wait << broker_->ReadStderr();
  EXPECT_EQ(Started().size(), 1u);
  const CliResult json = Run({"list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<v1::NameList> list = ParseJson<v1::NameList>(json.stdout_text);
  ASSERT_THAT(list.status(), IsOk());
  ASSERT_EQ(list->names_size(), 1);
  EXPECT_EQ(wait.stdout_text, absl::StrCat(R"({"name":"test.echo","owner":)",
                                           list->names(0).owner(), "}\n"));
}

TEST_F(CliActivationTest, WaitReportsWhyAnActivationFailed) {
  const CliResult wait = Run({"wait", "test.broken"});
  EXPECT_EQ(wait.exit_code, 7) << wait;
  EXPECT_THAT(wait.stderr_text,
              HasSubstr("activation of test.broken failed: /bin/sh exited "
                        "with status 3 before claiming the name"));
}

}  // namespace
}  // namespace switchboard::testing
