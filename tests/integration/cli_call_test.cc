// SPDX-License-Identifier: MIT
//
// `switchboard call`: JSON in, protobuf over the bus, JSON out. The request
// is built from JSON with the method's request type from the callee's
// schema, and the reply printed as JSON, for every kind of field (nested
// messages, enums, repeated, bytes, a map, a oneof, 64-bit integers);
// requests from stdin; streamed replies; raw bytes; and the exit codes of
// bad JSON, unknown names and methods, the callee's own errors and
// timeouts (docs/CLI.md). The real switchboardd runs with
// switchboard_test_echo and video-server.
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "switchboard/testing/schema_echo.pb.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/cli_test_base.h"
#include "tests/testing/json_output.h"
#include "tests/testing/status_matchers.h"
#include "video.pb.h"

namespace switchboard::testing {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Every kind of field, with values the JSON mapping must carry exactly: a
// 64-bit integer beyond a double's precision, a uint32 beyond int32, bytes
// that are not text, a nested message two levels deep, repeated enums.
constexpr char kEverything[] = R"json({
  "text": "h\u00e9llo \"quoted\"",
  "big": "-9007199254740993",
  "small": 4000000000,
  "ratio": 0.25,
  "flag": true,
  "color": "COLOR_GREEN",
  "data": "AAEC/w==",
  "tags": ["a", "b", ""],
  "numbers": [-1, 0, 2147483647],
  "shapes": [
    {"name": "tri", "color": "COLOR_RED",
     "points": [{"x": 1, "y": 2}, {"x": -3}],
     "label": {"text": "T", "anchor": {"x": 5, "y": 6}}},
    {"name": "empty"}
  ],
  "counts": {"one": 1, "minus": -1},
  "point": {"x": 7, "y": 8},
  "colors": ["COLOR_BLUE", "COLOR_RED"]
})json";

AllKinds Everything() {
  AllKinds all;
  all.set_text("h\xc3\xa9llo \"quoted\"");
  all.set_big(-9007199254740993);
  all.set_small(4000000000u);
  all.set_ratio(0.25);
  all.set_flag(true);
  all.set_color(COLOR_GREEN);
  all.set_data(std::string("\x00\x01\x02\xff", 4));
  all.add_tags("a");
  all.add_tags("b");
  all.add_tags("");
  all.add_numbers(-1);
  all.add_numbers(0);
  all.add_numbers(2147483647);
  Shape* tri = all.add_shapes();
  tri->set_name("tri");
  tri->set_color(COLOR_RED);
  Point* first = tri->add_points();
  first->set_x(1);
  first->set_y(2);
  tri->add_points()->set_x(-3);
  tri->mutable_label()->set_text("T");
  tri->mutable_label()->mutable_anchor()->set_x(5);
  tri->mutable_label()->mutable_anchor()->set_y(6);
  all.add_shapes()->set_name("empty");
  (*all.mutable_counts())["one"] = 1;
  (*all.mutable_counts())["minus"] = -1;
  all.mutable_point()->set_x(7);
  all.mutable_point()->set_y(8);
  all.add_colors(COLOR_BLUE);
  all.add_colors(COLOR_RED);
  return all;
}

// Expects `json` to parse as an AllKinds equal to `expected`.
void ExpectAllKinds(const std::string& json, const AllKinds& expected) {
  absl::StatusOr<AllKinds> parsed = ParseJson<AllKinds>(json);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE(MessageDifferencer::Equals(*parsed, expected))
      << "got " << parsed->ShortDebugString() << "\nwant "
      << expected.ShortDebugString();
}

// Whether `text` is exactly one line: an error the tool reports.
bool IsOneLine(const std::string& text) {
  return !text.empty() && text.find('\n') == text.size() - 1;
}

class CliCallTest : public CliTestBase {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CliTestBase::SetUp());
    ASSERT_NO_FATAL_FAILURE(StartEcho());
  }
};

TEST_F(CliCallTest, EveryKindOfFieldRoundTripsThroughJson) {
  const CliResult json =
      Run({"call", "test.echo", "Echo", kEverything, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  EXPECT_THAT(json.stderr_text, IsEmpty());
  ExpectAllKinds(json.stdout_text, Everything());

  // The mapping's own spelling: 64-bit integers as strings, bytes as base64,
  // enums by name, .proto field names.
  absl::StatusOr<google::protobuf::Struct> object =
      ParseJsonObject(json.stdout_text);
  ASSERT_THAT(object, IsOk());
  const auto& fields = object->fields();
  ASSERT_TRUE(fields.contains("big")) << json;
  EXPECT_EQ(fields.at("big").string_value(), "-9007199254740993");
  ASSERT_TRUE(fields.contains("data")) << json;
  EXPECT_EQ(fields.at("data").string_value(), "AAEC/w==");
  ASSERT_TRUE(fields.contains("color")) << json;
  EXPECT_EQ(fields.at("color").string_value(), "COLOR_GREEN");
  EXPECT_TRUE(fields.contains("point")) << json;
  EXPECT_FALSE(fields.contains("word")) << json;
}

TEST_F(CliCallTest, TheReplyPrintsIndentedForPeople) {
  const CliResult human = Run({"call", "test.echo", "Echo", kEverything});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_THAT(human.stdout_text, HasSubstr("\n  \"")) << human;
  ExpectAllKinds(human.stdout_text, Everything());
}

TEST_F(CliCallTest, TheRequestMayComeFromStandardInput) {
  const CliResult json =
      RunWithInput({"call", "test.echo", "Echo", "-", "--json"}, kEverything);
  ASSERT_EQ(json.exit_code, 0) << json;
  ExpectAllKinds(json.stdout_text, Everything());
}

TEST_F(CliCallTest, NoArgumentSendsAnEmptyRequestAndEveryDefaultPrints) {
  const CliResult json = Run({"call", "test.echo", "Echo", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  ExpectAllKinds(json.stdout_text, AllKinds());
  absl::StatusOr<google::protobuf::Struct> object =
      ParseJsonObject(json.stdout_text);
  ASSERT_THAT(object, IsOk());
  for (const char* field :
       {"text", "big", "small", "ratio", "flag", "color", "data", "tags",
        "numbers", "shapes", "counts", "colors"}) {
    EXPECT_TRUE(object->fields().contains(field))
        << "no \"" << field << "\" in " << json.stdout_text;
  }
  if (object->fields().contains("big")) {
    EXPECT_EQ(object->fields().at("big").string_value(), "0");
  }
}

TEST_F(CliCallTest, JsonThatDoesNotParseIsInvalidInput) {
  const CliResult result =
      Run({"call", "test.echo", "Echo", R"({"text": "unfinished)"});
  EXPECT_EQ(result.exit_code, 3) << result;
  EXPECT_THAT(result.stderr_text, StartsWith(ErrorPrefix("INVALID_ARGUMENT")))
      << result;
  EXPECT_TRUE(IsOneLine(result.stderr_text)) << result;
  EXPECT_THAT(result.stdout_text, IsEmpty());

  const CliResult from_stdin =
      RunWithInput({"call", "test.echo", "Echo", "-"}, "[1, 2");
  EXPECT_EQ(from_stdin.exit_code, 3) << from_stdin;
  EXPECT_THAT(from_stdin.stderr_text,
              StartsWith(ErrorPrefix("INVALID_ARGUMENT")));
  EXPECT_TRUE(IsOneLine(from_stdin.stderr_text)) << from_stdin;
}

TEST_F(CliCallTest, JsonThatDoesNotFitTheRequestTypeSaysWhere) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"text": "a", "nope": 1})", "nope"},
      {R"({"small": "many"})", "small"},
      {R"({"color": "COLOR_PURPLE"})", "COLOR_PURPLE"},
      {R"({"shapes": [{"points": [{"x": "left"}]}]})", "x"},
  };
  for (const auto& [json, where] : cases) {
    const CliResult result = Run({"call", "test.echo", "Echo", json});
    EXPECT_EQ(result.exit_code, 3) << json << ": " << result;
    EXPECT_THAT(result.stderr_text, StartsWith(ErrorPrefix("INVALID_ARGUMENT")))
        << json;
    EXPECT_THAT(result.stderr_text, HasSubstr(where)) << json;
    EXPECT_TRUE(IsOneLine(result.stderr_text)) << result;
  }
}

TEST_F(CliCallTest, AnUnknownNameOrMethodIsNotFound) {
  const CliResult name = Run({"call", "test.nobody", "Echo", "{}"});
  EXPECT_EQ(name.exit_code, 4) << name;
  EXPECT_THAT(name.stderr_text, StartsWith(ErrorPrefix("NOT_FOUND"))) << name;

  const CliResult method = Run({"call", "test.echo", "Nope", "{}"});
  EXPECT_EQ(method.exit_code, 4) << method;
  EXPECT_THAT(method.stderr_text,
              AnyOf(StartsWith(ErrorPrefix("NOT_FOUND")),
                    StartsWith(ErrorPrefix("UNIMPLEMENTED"))))
      << method;
  EXPECT_THAT(method.stderr_text, AllOf(HasSubstr("no method 'Nope'"),
                                        HasSubstr("Echo"), HasSubstr("Count")))
      << method;
}

TEST_F(CliCallTest, TheExitCodeFollowsTheCalleesStatus) {
  struct Case {
    int code;
    const char* name;
    int exit_code;
  };
  for (const Case& c : std::vector<Case>{{9, "FAILED_PRECONDITION", 1},
                                         {13, "INTERNAL", 1},
                                         {3, "INVALID_ARGUMENT", 3},
                                         {5, "NOT_FOUND", 4},
                                         {12, "UNIMPLEMENTED", 4},
                                         {4, "DEADLINE_EXCEEDED", 5},
                                         {7, "PERMISSION_DENIED", 6},
                                         {16, "UNAUTHENTICATED", 6},
                                         {14, "UNAVAILABLE", 7}}) {
    const std::string message = absl::StrCat("refused with ", c.code);
    const CliResult result =
        Run({"call", "test.echo", "Fail",
             absl::StrCat(R"({"code": )", c.code, R"(, "message": ")", message,
                          R"("})")});
    EXPECT_EQ(result.exit_code, c.exit_code) << c.name << ": " << result;
    EXPECT_THAT(result.stderr_text, StartsWith(ErrorPrefix(c.name))) << result;
    EXPECT_THAT(result.stderr_text, HasSubstr(message)) << result;
    EXPECT_TRUE(IsOneLine(result.stderr_text)) << result;
    EXPECT_THAT(result.stdout_text, IsEmpty()) << result;
  }
}

TEST_F(CliCallTest, ACallPastItsTimeoutExitsFive) {
  const CliResult late = Run({"call", "test.echo", "Slow",
                              R"({"delay_ms": 20000})", "--timeout", "300ms"});
  EXPECT_EQ(late.exit_code, 5) << late;
  EXPECT_THAT(late.stderr_text, StartsWith(ErrorPrefix("DEADLINE_EXCEEDED")))
      << late;
  // A reply in time is printed.
  const CliResult in_time =
      Run({"--timeout=10s", "call", "test.echo", "Slow",
           R"({"delay_ms": 1, "text": "done"})", "--json"});
  EXPECT_EQ(in_time.exit_code, 0) << in_time;
  AllKinds done;
  done.set_text("done");
  ExpectAllKinds(in_time.stdout_text, done);
}

TEST_F(CliCallTest, AStreamedReplyPrintsEachMessage) {
  const CliResult json = Run(
      {"call", "test.echo", "Count", R"({"count": 3, "text": "t"})", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  const std::vector<std::string> lines = NonEmptyLines(json.stdout_text);
  ASSERT_THAT(lines, SizeIs(3)) << json;
  for (uint32_t i = 0; i < 3; ++i) {
    absl::StatusOr<Tick> tick = ParseJson<Tick>(lines[i]);
    ASSERT_THAT(tick, IsOk());
    EXPECT_EQ(tick->index(), i);
    EXPECT_EQ(tick->text(), "t");
  }

  const CliResult human =
      Run({"call", "test.echo", "Count", R"({"count": 4})"});
  ASSERT_EQ(human.exit_code, 0) << human;
  size_t printed = 0;
  for (size_t at = human.stdout_text.find("\"index\""); at != std::string::npos;
       at = human.stdout_text.find("\"index\"", at + 1)) {
    ++printed;
  }
  EXPECT_EQ(printed, 4u) << human;
}

TEST_F(CliCallTest, RawBytesGoThroughUnchanged) {
  const CliResult text = Run({"call", "test.echo", "Raw", "hello", "--raw"});
  ASSERT_EQ(text.exit_code, 0) << text;
  EXPECT_EQ(text.stdout_text, "hello");

  const std::string binary("\x00\x01 not json \xff\n\x7f", 15);
  const CliResult piped =
      RunWithInput({"call", "test.echo", "Raw", "-", "--raw"}, binary);
  ASSERT_EQ(piped.exit_code, 0) << piped;
  EXPECT_EQ(piped.stdout_text, binary);

  // The schema lists Raw with raw types: JSON cannot be built for it.
  const CliResult without_raw = Run({"call", "test.echo", "Raw", "{}"});
  EXPECT_EQ(without_raw.exit_code, 3) << without_raw;
  EXPECT_THAT(without_raw.stderr_text,
              StartsWith(ErrorPrefix("INVALID_ARGUMENT")));
}

TEST_F(CliCallTest, VideoServersTypedMethodsTakeJson) {
  ASSERT_NO_FATAL_FAILURE(StartVideoServer());
  const CliResult loaded =
      Run({"call", "video.frames", "LoadClip",
           R"({"name": "cli", "frame_count": "5", "width": 8, "height": 6,
               "fps": 10})",
           "--json"});
  ASSERT_EQ(loaded.exit_code, 0) << loaded;
  absl::StatusOr<examples::video::ClipLoaded> clip =
      ParseJson<examples::video::ClipLoaded>(loaded.stdout_text);
  ASSERT_THAT(clip, IsOk());
  EXPECT_EQ(clip->name(), "cli");
  EXPECT_EQ(clip->frame_count(), 5u);
  EXPECT_EQ(clip->width(), 8u);

  const CliResult inline_frame =
      Run({"call", "video.frames", "GetFrame",
           R"({"frame_number": "3", "inline_pixels": true})", "--json"});
  ASSERT_EQ(inline_frame.exit_code, 0) << inline_frame;
  absl::StatusOr<examples::video::Frame> frame =
      ParseJson<examples::video::Frame>(inline_frame.stdout_text);
  ASSERT_THAT(frame, IsOk());
  EXPECT_EQ(frame->frame_number(), 3u);
  EXPECT_EQ(frame->rgba().size(), 8u * 6u * 4u);

  // Pixels in a SharedBuffer: the reply prints, with a note about them.
  const CliResult buffered = Run({"call", "video.frames", "GetFrame",
                                  R"({"frame_number": "4"})", "--json"});
  ASSERT_EQ(buffered.exit_code, 0) << buffered;
  absl::StatusOr<examples::video::Frame> bare =
      ParseJson<examples::video::Frame>(buffered.stdout_text);
  ASSERT_THAT(bare, IsOk());
  EXPECT_EQ(bare->frame_number(), 4u);
  EXPECT_THAT(bare->rgba(), IsEmpty());
  EXPECT_THAT(buffered.stderr_text, HasSubstr("1 SharedBuffer")) << buffered;
}

TEST_F(CliCallTest, VideoServersClipStreamsFrameByFrame) {
  ASSERT_NO_FATAL_FAILURE(StartVideoServer());
  const CliResult played =
      Run({"call", "video.frames", "PlayClip", "--json"}, kWaitTimeout);
  ASSERT_EQ(played.exit_code, 0) << played;
  const std::vector<std::string> lines = NonEmptyLines(played.stdout_text);
  ASSERT_THAT(lines, SizeIs(20)) << played;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::StatusOr<examples::video::ClipFrame> frame =
        ParseJson<examples::video::ClipFrame>(lines[i]);
    ASSERT_THAT(frame, IsOk());
    EXPECT_EQ(frame->clip(), "first");
    EXPECT_EQ(frame->frame_number(), i);
  }
  // Each frame's pixels came as a SharedBuffer, noted once per message.
  EXPECT_THAT(NonEmptyLines(played.stderr_text), SizeIs(20)) << played;
  EXPECT_THAT(played.stderr_text, HasSubstr("1 SharedBuffer"));
}

}  // namespace
}  // namespace switchboard::testing
