// SPDX-License-Identifier: MIT
//
// `switchboard monitor`: every call, reply and publish matching a pattern,
// as JSON lines (MonitorEvent with the payload decoded under "message") or
// one readable line per event, and refused with exit 6 to a user other
// than root and the broker's own (docs/CLI.md, docs/PROTOCOL.md 5.6). The
// tests run as root; the refused monitor runs as nobody.
#include <sys/stat.h>

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/testing/schema_echo.pb.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/cli_services.h"
#include "tests/testing/cli_test_base.h"
#include "tests/testing/json_output.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/unprivileged_run.h"
#include "video.pb.h"

namespace switchboard::testing {
namespace {

using ::google::protobuf::Struct;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// How far a MonitorEvent's time may be outside the span in which the test
// saw the event happen.
constexpr absl::Duration kClockMargin = absl::Seconds(1);

// One line of `monitor --json`: the MonitorEvent, and the payload decoded
// under "message" (nullopt if the line has no decoded payload).
struct MonitorLine {
  v1::MonitorEvent event;
  std::optional<google::protobuf::Value> decoded;
};

// Splits a monitor line into the MonitorEvent, parsed strictly, and the
// decoded payload.
absl::StatusOr<MonitorLine> ParseMonitorLine(const std::string& line) {
  absl::StatusOr<Struct> object = ParseJsonObject(line);
  if (!object.ok()) return object.status();
  MonitorLine parsed;
  auto message = object->mutable_fields()->find("message");
  if (message != object->mutable_fields()->end() &&
      message->second.has_struct_value()) {
    parsed.decoded = message->second;
    object->mutable_fields()->erase(message);
  }
  google::protobuf::Value rest;
  *rest.mutable_struct_value() = *std::move(object);
  absl::StatusOr<v1::MonitorEvent> event =
      ParseJson<v1::MonitorEvent>(ToJson(rest));
  if (!event.ok()) return event.status();
  parsed.event = *std::move(event);
  return parsed;
}

class CliMonitorTest : public CliTestBase {
 protected:
  // Starts `switchboard monitor ARGS...` and waits until the broker serves
  // its Monitor call, so that it sees what happens next.
  std::optional<ChildProcess> StartMonitor(
      const std::vector<std::string>& args) {
    std::vector<std::string> command = {"monitor"};
    command.insert(command.end(), args.begin(), args.end());
    std::optional<ChildProcess> monitor = StartInBackground(command, "monitor");
    if (!monitor.has_value()) return std::nullopt;
    absl::StatusOr<v1::ConnectionInfo> waiting = WaitForConnectionOf(
        *client_, monitor->pid(),
        [](const v1::ConnectionInfo& c) { return c.calls_waiting() >= 1; },
        kWaitTimeout);
    if (!waiting.ok()) {
      ADD_FAILURE() << waiting.status()
                    << "\nmonitor stderr: " << BackgroundStderr("monitor");
      return std::nullopt;
    }
    return monitor;
  }

  MonitorLine ReadMonitorLine(ChildProcess& monitor) {
    absl::StatusOr<std::string> line = monitor.ReadLine(kWaitTimeout);
    if (!line.ok()) {
      ADD_FAILURE() << line.status()
                    << "\nmonitor stderr: " << BackgroundStderr("monitor");
      return {};
    }
    absl::StatusOr<MonitorLine> parsed = ParseMonitorLine(*line);
    if (!parsed.ok()) {
      ADD_FAILURE() << parsed.status();
      return {};
    }
    return *std::move(parsed);
  }

  // Calls test.echo/Echo with AllKinds{text}.
  void CallEcho(const std::string& text) {
    AllKinds request;
    request.set_text(text);
    ASSERT_THAT(
        client_->Call<AllKinds>("test.echo", "Echo", request, kWaitTimeout),
        IsOk());
  }
};

// The AllKinds in a decoded payload.
AllKinds DecodedAllKinds(const MonitorLine& line) {
  if (!line.decoded.has_value()) {
    ADD_FAILURE() << "no decoded message in " << line.event.ShortDebugString();
    return AllKinds();
  }
  absl::StatusOr<AllKinds> parsed = ParseJson<AllKinds>(ToJson(*line.decoded));
  if (!parsed.ok()) {
    ADD_FAILURE() << parsed.status();
    return AllKinds();
  }
  return *parsed;
}

TEST_F(CliMonitorTest, MonitorSeesACallAndItsReply) {
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  const uint64_t echo_id = EchoConnectionId();
  std::optional<ChildProcess> monitor =
      StartMonitor({"--json", "--count=2", "test.echo.>"});
  ASSERT_TRUE(monitor.has_value());
  const absl::Time before = absl::Now();
  ASSERT_NO_FATAL_FAILURE(CallEcho("ping"));

  const MonitorLine call = ReadMonitorLine(*monitor);
  const MonitorLine reply = ReadMonitorLine(*monitor);
  const absl::Time after = absl::Now();
  EXPECT_EQ(call.event.kind(), v1::MonitorEvent::KIND_CALL)
      << call.event.ShortDebugString();
  EXPECT_EQ(reply.event.kind(), v1::MonitorEvent::KIND_REPLY)
      << reply.event.ShortDebugString();
  EXPECT_NE(call.event.call_id(), 0u);
  EXPECT_EQ(reply.event.call_id(), call.event.call_id());
  EXPECT_EQ(call.event.from(), client_->connection_id());
  EXPECT_EQ(call.event.from_name(), "cli-test");
  EXPECT_EQ(call.event.to(), echo_id);
  EXPECT_EQ(call.event.to_name(), "switchboard_test_echo");
  EXPECT_EQ(reply.event.from(), echo_id);
  EXPECT_EQ(reply.event.to(), client_->connection_id());
  for (const MonitorLine* line : {&call, &reply}) {
    EXPECT_EQ(line->event.service(), "test.echo");
    EXPECT_EQ(line->event.method(), "Echo");
    EXPECT_EQ(line->event.type(), "switchboard.testing.AllKinds");
    EXPECT_EQ(line->event.code(), 0);
    EXPECT_EQ(DecodedAllKinds(*line).text(), "ping");
    // Routed while the test made the call: wall-clock time. The broker
    // stamps the time its event loop woke up, which may precede the frame
    // by that iteration's work, so allow a margin far below any clock mixup.
    const absl::Time routed =
        absl::FromUnixMicros(static_cast<int64_t>(line->event.time_unix_us()));
    EXPECT_GE(routed, before - kClockMargin) << absl::FormatTime(routed);
    EXPECT_LE(routed, after + kClockMargin) << absl::FormatTime(routed);
  }
  AllKinds sent;
  sent.set_text("ping");
  EXPECT_EQ(call.event.payload(), sent.SerializeAsString());
  EXPECT_EQ(call.event.payload_size(), sent.ByteSizeLong());
  EXPECT_THAT(monitor->Wait(kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("monitor");
}

TEST_F(CliMonitorTest, MonitorPrintsOneReadableLinePerEvent) {
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  const uint64_t echo_id = EchoConnectionId();
  std::optional<ChildProcess> monitor =
      StartMonitor({"--count=2", "test.echo.Echo"});
  ASSERT_TRUE(monitor.has_value());
  ASSERT_NO_FATAL_FAILURE(CallEcho("readable"));

  const std::string client = absl::StrCat(":", client_->connection_id());
  const std::string echo = absl::StrCat(":", echo_id);
  absl::StatusOr<std::string> call = monitor->ReadLine(kWaitTimeout);
  ASSERT_THAT(call, IsOk()) << BackgroundStderr("monitor");
  EXPECT_THAT(*call,
              AllOf(HasSubstr("call"), HasSubstr("test.echo/Echo"),
                    HasSubstr(client), HasSubstr(echo), HasSubstr("readable")));
  absl::StatusOr<std::string> reply = monitor->ReadLine(kWaitTimeout);
  ASSERT_THAT(reply, IsOk()) << BackgroundStderr("monitor");
  EXPECT_THAT(*reply,
              AllOf(HasSubstr("reply"), HasSubstr("test.echo/Echo"),
                    HasSubstr(client), HasSubstr(echo), HasSubstr("readable")));
  EXPECT_THAT(monitor->Wait(kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("monitor");
}

TEST_F(CliMonitorTest, AnErrorReplyKeepsItsStatusText) {
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  std::optional<ChildProcess> monitor =
      StartMonitor({"--json", "--count=2", "test.echo.Fail"});
  ASSERT_TRUE(monitor.has_value());
  const CliResult failed = Run(
      {"call", "test.echo", "Fail", R"({"code": 9, "message": "not today"})"});
  EXPECT_EQ(failed.exit_code, 1) << failed;

  const MonitorLine call = ReadMonitorLine(*monitor);
  const MonitorLine reply = ReadMonitorLine(*monitor);
  EXPECT_EQ(call.event.kind(), v1::MonitorEvent::KIND_CALL);
  ASSERT_TRUE(call.decoded.has_value()) << call.event.ShortDebugString();
  absl::StatusOr<FailRequest> request =
      ParseJson<FailRequest>(ToJson(*call.decoded));
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->code(), 9);
  EXPECT_EQ(reply.event.kind(), v1::MonitorEvent::KIND_REPLY);
  EXPECT_EQ(reply.event.call_id(), call.event.call_id());
  EXPECT_EQ(reply.event.code(), 9);
  EXPECT_EQ(reply.event.status_message(), "not today");
  EXPECT_FALSE(reply.decoded.has_value());
  EXPECT_THAT(monitor->Wait(kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("monitor");
}

TEST_F(CliMonitorTest, EventsTheMonitorMissedAreCounted) {
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  std::optional<ChildProcess> monitor =
      StartMonitor({"--json", "test.echo.Echo"});
  ASSERT_TRUE(monitor.has_value());
  // Stopped, it grants no credit: after its window the broker counts the
  // events it cannot send.
  ASSERT_THAT(monitor->Signal(SIGSTOP), IsOk());
  constexpr int kCalls = 300;
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_NO_FATAL_FAILURE(CallEcho(absl::StrCat(i)));
  }
  ASSERT_THAT(monitor->Signal(SIGCONT), IsOk());

  // It prints its window's worth, and grants credit again as it does. Calls
  // "tick-N" made meanwhile are missed until the credit is back; the first
  // event sent then reports every event missed before it. A short wait for
  // a line only decides when to make the next tick.
  uint64_t printed = 0;
  std::optional<MonitorLine> first_after_gap;
  const absl::Time deadline = absl::Now() + kWaitTimeout;
  for (int tick = 0; !first_after_gap.has_value() && absl::Now() < deadline;
       ++tick) {
    ASSERT_NO_FATAL_FAILURE(CallEcho(absl::StrCat("tick-", tick)));
    while (true) {
      absl::StatusOr<std::string> text =
          monitor->ReadLine(absl::Milliseconds(200));
      if (!text.ok()) break;
      absl::StatusOr<MonitorLine> line = ParseMonitorLine(*text);
      ASSERT_THAT(line, IsOk());
      if (line->event.missed_before() > 0) {
        first_after_gap = *std::move(line);
        break;
      }
      ++printed;
    }
  }
  ASSERT_TRUE(first_after_gap.has_value())
      << printed << " events printed, none reported missed ones; stderr: "
      << BackgroundStderr("monitor");
  // Which event it is tells how many came before it: two per call.
  const std::string text = DecodedAllKinds(*first_after_gap).text();
  int tick = -1;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripPrefix(text, "tick-"), &tick))
      << text;
  const uint64_t events_before =
      2 * (kCalls + tick) +
      (first_after_gap->event.kind() == v1::MonitorEvent::KIND_REPLY ? 1 : 0);
  EXPECT_EQ(printed + first_after_gap->event.missed_before(), events_before)
      << printed << " printed, first event after the gap: "
      << first_after_gap->event.ShortDebugString();
  EXPECT_THAT(monitor->Stop(SIGTERM, kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("monitor");
}

TEST_F(CliMonitorTest, MonitorSeesAPublishDecoded) {
  ASSERT_NO_FATAL_FAILURE(StartVideoServer());
  const uint64_t video_id = VideoConnectionId();
  std::optional<ChildProcess> monitor =
      StartMonitor({"--json", "--count=1", "video.events.>"});
  ASSERT_TRUE(monitor.has_value());
  examples::video::LoadClipRequest load;
  load.set_name("watched");
  ASSERT_THAT(client_->Call<examples::video::ClipLoaded>(
                  "video.frames", "LoadClip", load, kWaitTimeout),
              IsOk());

  const MonitorLine publish = ReadMonitorLine(*monitor);
  EXPECT_EQ(publish.event.kind(), v1::MonitorEvent::KIND_PUBLISH);
  EXPECT_EQ(publish.event.topic(), "video.events.clip_loaded");
  EXPECT_EQ(publish.event.from(), video_id);
  EXPECT_EQ(publish.event.call_id(), 0u);
  EXPECT_EQ(publish.event.type(), "switchboard.examples.video.ClipLoaded");
  ASSERT_TRUE(publish.decoded.has_value()) << publish.event.ShortDebugString();
  absl::StatusOr<examples::video::ClipLoaded> clip =
      ParseJson<examples::video::ClipLoaded>(ToJson(*publish.decoded));
  ASSERT_THAT(clip, IsOk());
  EXPECT_EQ(clip->name(), "watched");
  EXPECT_THAT(monitor->Wait(kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("monitor");
}

TEST_F(CliMonitorTest, MonitorIsRefusedToAnotherUser) {
  ASSERT_TRUE(broker_.started());
  // Test-only: let nobody reach the broker's socket.
  ASSERT_EQ(::chmod(broker_.dir().c_str(), 0711), 0);
  ASSERT_EQ(::chmod(broker_.socket_path().c_str(), 0666), 0);
  absl::StatusOr<ExecutableCopy> tool = ExecutableCopy::For(
      SwitchboardCliPath(), kNobody, {SwitchboardLibraryPath()});
  ASSERT_THAT(tool, IsOk());
  ASSERT_TRUE(UserMayExecute(tool->path(), kNobody)) << tool->path();

  absl::StatusOr<CliResult> refused = RunAsUser(
      kNobody,
      {tool->path(), absl::StrCat("--address=", broker_.address()), "monitor"},
      kWaitTimeout, tool->environment());
  ASSERT_THAT(refused, IsOk());
  EXPECT_EQ(refused->exit_code, 6) << *refused;
  EXPECT_THAT(refused->stderr_text,
              StartsWith(ErrorPrefix("PERMISSION_DENIED")))
      << *refused;

  // The broker goes on serving everyone else, monitors included.
  EXPECT_THAT(client_->Ping(), IsOk());
  const CliResult status = Run({"status", "--json"});
  EXPECT_EQ(status.exit_code, 0) << status;
  const CliResult root_monitor =
      Run({"monitor", "--timeout=200ms", "test.nothing"});
  EXPECT_EQ(root_monitor.exit_code, 0) << root_monitor;
}

}  // namespace
}  // namespace switchboard::testing
