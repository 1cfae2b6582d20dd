// SPDX-License-Identifier: MIT
#include "base/flags.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<std::vector<std::string>> ParseArgs(
    FlagParser& parser, std::vector<std::string> args) {
  std::vector<char*> argv;
  static char program[] = "prog";
  argv.push_back(program);
  for (std::string& a : args) argv.push_back(a.data());
  return parser.Parse(static_cast<int>(argv.size()), argv.data());
}

TEST(FlagParserTest, ParsesEveryFlagKindAndKeepsPositionals) {
  std::string name = "default";
  std::vector<std::string> addresses = {"unix:/default"};
  int64_t count = 1;
  absl::Duration timeout = absl::Seconds(1);
  bool verbose = false;
  FlagParser parser("prog", "Test program.");
  parser.AddString("name", &name, "NAME", "a name");
  parser.AddStrings("address", &addresses, "ADDRESS", "addresses");
  parser.AddInt("count", &count, "N", "a count");
  parser.AddDuration("timeout", &timeout, "a timeout");
  parser.AddBool("verbose", &verbose, "talk more");

  absl::StatusOr<std::vector<std::string>> args =
      ParseArgs(parser, {"one", "--name=x", "--address", "unix:/a",
                         "--address=tcp:b", "--count=7", "--timeout=250ms",
                         "--verbose", "two", "--", "--x"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(*args, ElementsAre("one", "two", "--x"));
  EXPECT_EQ(name, "x");
  EXPECT_THAT(addresses, ElementsAre("unix:/a", "tcp:b"));
  EXPECT_EQ(count, 7);
  EXPECT_EQ(timeout, absl::Milliseconds(250));
  EXPECT_TRUE(verbose);
}

TEST(FlagParserTest, NegatedBooleanAndPlainSecondsDuration) {
  bool verbose = true;
  absl::Duration timeout;
  FlagParser parser("prog", "Test program.");
  parser.AddBool("verbose", &verbose, "talk more");
  parser.AddDuration("timeout", &timeout, "a timeout");
  ASSERT_TRUE(ParseArgs(parser, {"--no-verbose", "--timeout=2.5"}).ok());
  EXPECT_FALSE(verbose);
  EXPECT_EQ(timeout, absl::Milliseconds(2500));
}

TEST(FlagParserTest, UnknownFlagMissingValueAndBadNumberAreErrors) {
  int64_t count = 0;
  FlagParser parser("prog", "Test program.");
  parser.AddInt("count", &count, "N", "a count");
  EXPECT_THAT(ParseArgs(parser, {"--nope"}).status().message(),
              HasSubstr("unknown option '--nope'"));
  EXPECT_THAT(ParseArgs(parser, {"--count"}).status().message(),
              HasSubstr("needs a value"));
  EXPECT_THAT(ParseArgs(parser, {"--count=seven"}).status().message(),
              HasSubstr("not a whole number"));
}

TEST(FlagParserTest, HelpListsFlagsWithDefaults) {
  int64_t count = 3;
  FlagParser parser("prog", "Test program.");
  parser.AddInt("count", &count, "N", "How many.");
  ASSERT_TRUE(ParseArgs(parser, {"--help"}).ok());
  EXPECT_TRUE(parser.help_requested());
  EXPECT_THAT(parser.Help(), HasSubstr("--count=N"));
  EXPECT_THAT(parser.Help(), HasSubstr("How many. (default: 3)"));
}

}  // namespace
}  // namespace switchboard
