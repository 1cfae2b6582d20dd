// SPDX-License-Identifier: MIT
#include "options.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace switchboard::cli {
namespace {

absl::StatusOr<CommandLine> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "switchboard");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

TEST(OptionsTest, GlobalFlagsBeforeOrAfterTheCommand) {
  absl::StatusOr<CommandLine> before =
      Parse({"--address", "unix:/tmp/b", "--json", "status"});
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(before->options.has_value());
  EXPECT_EQ(before->options->command, "status");
  EXPECT_EQ(before->options->address, "unix:/tmp/b");
  EXPECT_TRUE(before->options->json);

  absl::StatusOr<CommandLine> after =
      Parse({"status", "--address=unix:/tmp/b", "--timeout", "500ms"});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->options->address, "unix:/tmp/b");
  EXPECT_EQ(after->options->timeout, absl::Milliseconds(500));
}

TEST(OptionsTest, CallArgumentsAndFlags) {
  absl::StatusOr<CommandLine> line =
      Parse({"call", "video.frames", "LoadClip", "{\"name\":\"a\"}", "--raw"});
  ASSERT_TRUE(line.ok()) << line.status();
  const Options& options = *line->options;
  EXPECT_EQ(options.args, (std::vector<std::string>{"video.frames", "LoadClip",
                                                    "{\"name\":\"a\"}"}));
  EXPECT_TRUE(options.raw);
  EXPECT_FALSE(options.timeout.has_value());
  EXPECT_EQ(options.TimeoutOr(absl::Seconds(30)), absl::Seconds(30));
}

TEST(OptionsTest, DashIsAnArgument) {
  absl::StatusOr<CommandLine> line = Parse({"call", "a.b", "M", "-"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->options->args.back(), "-");
}

TEST(OptionsTest, CommandFlagsWithValues) {
  absl::StatusOr<CommandLine> line =
      Parse({"subscribe", "video.>", "--count", "3", "--timeout=2s"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->options->count, 3);
  EXPECT_EQ(line->options->timeout, absl::Seconds(2));

  line = Parse({"top", "--interval=250ms"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->options->interval, absl::Milliseconds(250));

  line = Parse({"describe", "--type", "chat.v1.Line"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->options->type, "chat.v1.Line");
  EXPECT_TRUE(line->options->args.empty());
}

TEST(OptionsTest, UsageErrors) {
  EXPECT_FALSE(Parse({}).ok());
  EXPECT_FALSE(Parse({"frobnicate"}).ok());
  EXPECT_FALSE(Parse({"status", "extra"}).ok());
  EXPECT_FALSE(Parse({"call", "only.name"}).ok());
  EXPECT_FALSE(Parse({"status", "--bogus"}).ok());
  EXPECT_FALSE(Parse({"status", "--count=3"}).ok());  // not a status flag
  EXPECT_FALSE(Parse({"status", "--timeout=soon"}).ok());
  EXPECT_FALSE(Parse({"subscribe", "a.b", "--count=-1"}).ok());
  EXPECT_FALSE(Parse({"describe"}).ok());
  EXPECT_FALSE(Parse({"describe", "a.b", "--type=x.Y"}).ok());
  EXPECT_FALSE(Parse({"publish", "a.b", "{}"}).ok());  // no --type
  EXPECT_FALSE(Parse({"help", "frobnicate"}).ok());
  EXPECT_TRUE(Parse({"publish", "a.b", "xyz", "--raw"}).ok());
}

TEST(OptionsTest, HelpForTheToolAndForACommand) {
  absl::StatusOr<CommandLine> tool = Parse({"--help"});
  ASSERT_TRUE(tool.ok());
  EXPECT_EQ(Parse({"help"})->help, tool->help);
  EXPECT_FALSE(tool->options.has_value());
  EXPECT_NE(tool->help.find("Commands:"), std::string::npos);
  EXPECT_NE(tool->help.find("monitor"), std::string::npos);

  for (const auto& args : std::vector<std::vector<std::string>>{
           {"call", "--help"}, {"--help", "call"}, {"help", "call"}}) {
    absl::StatusOr<CommandLine> command = Parse(args);
    ASSERT_TRUE(command.ok());
    EXPECT_NE(command->help.find("Usage: switchboard call NAME METHOD"),
              std::string::npos)
        << command->help;
    EXPECT_NE(command->help.find("--raw"), std::string::npos);
    EXPECT_NE(command->help.find("Example"), std::string::npos);
  }
}

TEST(OptionsTest, FindsTheCommandBehindFlagValues) {
  std::vector<std::string> args = {"switchboard", "--address", "unix:/x",
                                   "monitor", "--bogus"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  EXPECT_EQ(FindCommandName(static_cast<int>(argv.size()), argv.data()),
            "monitor");
}

}  // namespace
}  // namespace switchboard::cli
