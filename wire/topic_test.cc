// SPDX-License-Identifier: MIT
#include "wire/topic.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::wire {
namespace {

using ::testing::HasSubstr;

struct Case {
  absl::string_view text;
  bool valid;
  absl::string_view error;  // a substring of the message when !valid
};

TEST(ValidateTopicTest, AcceptsAndRefusesTopics) {
  const std::string longest(kMaxTopicBytes, 'a');
  const std::string too_long(kMaxTopicBytes + 1, 'a');
  const Case cases[] = {
      {"a", true, ""},
      {"video.events.clip_loaded", true, ""},
      {"A-Z.a_z.0-9", true, ""},
      {"switchboard.connection.opened", true, ""},
      {longest, true, ""},
      {"", false, "topic is empty"},
      {too_long, false, "is 256 bytes; the limit is 255"},
      {".a", false, "empty token at position 1"},
      {"a.", false, "empty token at position 2"},
      {"a..b", false, "empty token at position 2"},
      {".", false, "empty token at position 1"},
      {"a.b c", false, "character ' ' in token 2"},
      {"a/b", false, "character '/' in token 1"},
      {"a.\x01", false, "character 0x01 in token 2"},
      {"a.*", false, "wildcard '*' at position 2"},
      {">", false, "wildcard '>' at position 1"},
      {"a.>", false, "wildcard '>' at position 2"},
      {"a*", false, "'*' inside token 1"},
      {"a.b>", false, "'>' inside token 2"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidateTopic(c.text);
    if (c.valid) {
      EXPECT_TRUE(status.ok()) << "'" << c.text << "': " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
          << "'" << c.text << "'";
      EXPECT_THAT(std::string(status.message()),
                  HasSubstr(std::string(c.error)))
          << "'" << c.text << "'";
    }
  }
}

TEST(ValidatePatternTest, AcceptsAndRefusesPatterns) {
  const std::string too_long = std::string(kMaxTopicBytes - 1, 'a') + ".>";
  const Case cases[] = {
      {"a", true, ""},
      {"*", true, ""},
      {">", true, ""},
      {"*.*", true, ""},
      {"video.*", true, ""},
      {"video.>", true, ""},
      {"*.b.>", true, ""},
      {"switchboard.>", true, ""},
      {"", false, "pattern is empty"},
      {too_long, false, "is 256 bytes; the limit is 255"},
      {"a.>.b", false, "'>' at position 2; '>' may only be the last token"},
      {">.>", false, "'>' at position 1"},
      {"a.**", false, "'*' inside token 2"},
      {"a>", false, "'>' inside token 1"},
      {"a..*", false, "empty token at position 2"},
      {"*.", false, "empty token at position 2"},
      {"a.b#", false, "character '#' in token 2"},
  };
  for (const Case& c : cases) {
    const absl::Status status = ValidatePattern(c.text);
    if (c.valid) {
      EXPECT_TRUE(status.ok()) << "'" << c.text << "': " << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
          << "'" << c.text << "'";
      EXPECT_THAT(std::string(status.message()),
                  HasSubstr(std::string(c.error)))
          << "'" << c.text << "'";
    }
  }
}

TEST(ValidateTopicTest, LongInputIsShortenedInTheMessage) {
  const std::string long_bad = std::string(200, 'a') + ".b c";
  const absl::Status status = ValidateTopic(long_bad);
  EXPECT_THAT(std::string(status.message()), HasSubstr("...'"));
  EXPECT_LT(status.message().size(), 200u);
}

TEST(PatternMatchesTest, MatchesTokenByToken) {
  struct MatchCase {
    const char* pattern;
    const char* subject;
    bool match;
  };
  const MatchCase cases[] = {
      {"a", "a", true},
      {"a", "b", false},
      {"a", "a.b", false},
      {"a.b", "a", false},
      {"a.b", "a.b", true},
      {"*", "a", true},
      {"*", "a.b", false},
      {"a.*", "a.b", true},
      {"a.*", "a", false},
      {"a.*.c", "a.b.c", true},
      {"a.*.c", "a.b.d", false},
      {">", "a", true},
      {">", "a.b.c", true},
      {"a.>", "a", false},
      {"a.>", "a.b", true},
      {"a.>", "a.b.c", true},
      {"a.>", "b.c", false},
      {"*.>", "a.b", true},
      {"*.>", "a", false},
      {"video.frames.GetFrame", "video.frames.GetFrame", true},
      {"video.frames.*", "video.frames.GetFrame", true},
      {"video.>", "video.frames.GetFrame", true},
      {"video.frames", "video.frames.GetFrame", false},
      {"ab", "a", false},
      {"a", "ab", false},
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(PatternMatches(c.pattern, c.subject), c.match)
        << c.pattern << " vs " << c.subject;
  }
}

TEST(IsReservedTopicTest, OnlyTheFirstTokenCounts) {
  const struct {
    absl::string_view topic;
    bool reserved;
  } cases[] = {
      {"switchboard", true},
      {"switchboard.connection.opened", true},
      {"switchboard.name.video", true},
      {"switchboardx", false},
      {"switchboard-x.a", false},
      {"a.switchboard", false},
      {"Switchboard.a", false},
      {"", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(IsReservedTopic(c.topic), c.reserved) << "'" << c.topic << "'";
  }
}

}  // namespace
}  // namespace switchboard::wire
