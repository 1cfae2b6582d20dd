// SPDX-License-Identifier: MIT
//
// Topics through the `switchboard` tool: publish builds a typed message
// from JSON (or sends raw bytes) and reports how many subscriptions took
// it; subscribe prints each message as a JSON line, decoded with the type
// its publisher described (video-server's clip events, the chat example's
// messages) or as base64; wait returns when a name has an owner, at once
// or later, and times out with exit 5 (docs/CLI.md).
#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chat.pb.h"
#include "examples/chat/chat_process.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/testing/schema_echo.pb.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/cli_services.h"
#include "tests/testing/cli_test_base.h"
#include "tests/testing/clients.h"
#include "tests/testing/json_output.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_for.h"
#include "video.pb.h"

namespace switchboard::testing {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// A message as the test's subscriber received it.
struct Received {
  std::string topic;
  std::string type;
  std::string payload;
};

class CliTopicsTest : public CliTestBase {
 protected:
  // Subscribes the test's client to `pattern`, collecting into received_.
  void SubscribeLibrary(const std::string& pattern) {
    absl::StatusOr<Subscription> subscription =
        client_->Subscribe(pattern, [this](const Message& message) {
          absl::MutexLock lock(&mutex_);
          received_.push_back({message.topic, message.message_type,
                               message.payload.ToString()});
        });
    ASSERT_THAT(subscription, IsOk());
    subscriptions_.push_back(*std::move(subscription));
  }

  // Waits until the test's subscriber has `count` messages; returns them.
  std::vector<Received> WaitForReceived(size_t count) {
    EXPECT_TRUE(WaitFor(
        [&] {
          absl::MutexLock lock(&mutex_);
          return received_.size() >= count;
        },
        kWaitTimeout));
    absl::MutexLock lock(&mutex_);
    return received_;
  }

  // Starts `switchboard subscribe ARGS...` and waits until the broker holds
  // its subscription, so that what is published next reaches it.
  std::optional<ChildProcess> StartSubscriber(
      const std::vector<std::string>& args) {
    std::vector<std::string> command = {"subscribe"};
    command.insert(command.end(), args.begin(), args.end());
    std::optional<ChildProcess> subscriber =
        StartInBackground(command, "subscribe");
    if (!subscriber.has_value()) return std::nullopt;
    absl::StatusOr<v1::ConnectionInfo> subscribed = WaitForConnectionOf(
        *client_, subscriber->pid(),
        [](const v1::ConnectionInfo& c) { return c.subscriptions() >= 1; },
        kWaitTimeout);
    if (!subscribed.ok()) {
      ADD_FAILURE() << subscribed.status()
                    << "\nsubscribe stderr: " << BackgroundStderr("subscribe");
      return std::nullopt;
    }
    return subscriber;
  }

  // The next line `process` prints, parsed as a JSON object.
  Struct ReadObject(ChildProcess& process, const std::string& label) {
    absl::StatusOr<std::string> line = process.ReadLine(kWaitTimeout);
    if (!line.ok()) {
      ADD_FAILURE() << label << ": " << line.status()
                    << "\nstderr: " << BackgroundStderr(label);
      return Struct();
    }
    absl::StatusOr<Struct> object = ParseJsonObject(*line);
    if (!object.ok()) {
      ADD_FAILURE() << label << ": " << object.status();
      return Struct();
    }
    return *std::move(object);
  }

  absl::Mutex mutex_;
  std::vector<Received> received_ ABSL_GUARDED_BY(mutex_);
  // Declared last: they end first, before the callbacks' state goes.
  std::vector<Subscription> subscriptions_;
};

// The string field `key` of `object`, or "" if it has none.
std::string StringField(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return it == object.fields().end() ? "" : it->second.string_value();
}

// The number field `key` of `object` as an integer.
uint64_t IntegerField(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  if (it == object.fields().end()) {
    ADD_FAILURE() << "no \"" << key << "\" in " << object.ShortDebugString();
    return 0;
  }
  absl::StatusOr<uint64_t> number = ToUint64(it->second);
  if (!it->second.has_number_value()) {
    ADD_FAILURE() << key << " is not a JSON number: " << ToJson(it->second);
    return 0;
  }
  if (!number.ok()) {
    ADD_FAILURE() << key << ": " << number.status();
    return 0;
  }
  return *number;
}

// The object under `key` parsed as a T.
template <typename T>
absl::StatusOr<T> MessageField(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  if (it == object.fields().end()) {
    return absl::NotFoundError(
        absl::StrCat("no \"", key, "\" in ", object.ShortDebugString()));
  }
  return ParseJson<T>(ToJson(it->second));
}

// A message that exercises nesting, enums, repeated fields and bytes.
constexpr char kShapes[] = R"({"text": "drawn", "color": "COLOR_RED",
  "data": "3q2+7w==", "shapes": [{"name": "line",
  "points": [{"x": 1}, {"y": 2}]}], "colors": ["COLOR_GREEN"]})";

AllKinds Shapes() {
  AllKinds all;
  all.set_text("drawn");
  all.set_color(COLOR_RED);
  all.set_data("\xde\xad\xbe\xef");
  Shape* line = all.add_shapes();
  line->set_name("line");
  line->add_points()->set_x(1);
  line->add_points()->set_y(2);
  all.add_colors(COLOR_GREEN);
  return all;
}

TEST_F(CliTopicsTest, PublishBuildsATypedMessageFromJson) {
  // switchboard_test_echo's schema defines AllKinds.
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  ASSERT_NO_FATAL_FAILURE(SubscribeLibrary("test.topic.>"));

  const CliResult human = Run({"publish", "test.topic.a", kShapes,
                               "--type=switchboard.testing.AllKinds"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_THAT(human.stdout_text,
              HasSubstr("published on test.topic.a: delivered to 1 "
                        "subscription"))
      << human;

  const CliResult json =
      RunWithInput({"publish", "test.topic.b", "-", "--type",
                    "switchboard.testing.AllKinds", "--json"},
                   kShapes);
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<Struct> counts = ParseJsonObject(json.stdout_text);
  ASSERT_THAT(counts, IsOk());
  EXPECT_EQ(IntegerField(*counts, "delivered"), 1u) << json;
  EXPECT_EQ(IntegerField(*counts, "dropped"), 0u) << json;

  const std::vector<Received> received = WaitForReceived(2);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].topic, "test.topic.a");
  EXPECT_EQ(received[1].topic, "test.topic.b");
  for (const Received& message : received) {
    EXPECT_EQ(message.type, "switchboard.testing.AllKinds");
    AllKinds parsed;
    ASSERT_TRUE(parsed.ParseFromString(message.payload));
    EXPECT_TRUE(MessageDifferencer::Equals(parsed, Shapes()))
        << parsed.ShortDebugString();
  }
}

TEST_F(CliTopicsTest, PublishSpeaksInTheChatRoom) {
  // The chat registered ChatMessage when it joined: the tool knows the type
  // from that connection, which serves no name.
  absl::StatusOr<examples::chat::ChatProcess> alice =
      examples::chat::ChatProcess::Join(broker_, "lobby", "alice",
                                        kWaitTimeout);
  ASSERT_THAT(alice, IsOk());
  const CliResult said =
      Run({"publish", "chat.room.lobby", R"({"nick": "ci", "text": "green"})",
           "--type=switchboard.examples.chat.ChatMessage", "--json"});
  ASSERT_EQ(said.exit_code, 0) << said;
  absl::StatusOr<Struct> counts = ParseJsonObject(said.stdout_text);
  ASSERT_THAT(counts, IsOk());
  EXPECT_EQ(IntegerField(*counts, "delivered"), 1u) << said;
  absl::StatusOr<std::string> line =
      alice->ReadLineContaining("green", kWaitTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr("ci (:"));
}

TEST_F(CliTopicsTest, PublishWithoutSubscribersDeliversToNone) {
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  const CliResult json = Run({"publish", "test.topic.quiet",
                              "--type=switchboard.testing.Point", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<Struct> counts = ParseJsonObject(json.stdout_text);
  ASSERT_THAT(counts, IsOk());
  EXPECT_EQ(IntegerField(*counts, "delivered"), 0u) << json;
}

TEST_F(CliTopicsTest, PublishRawSendsTheBytesAsTheyAre) {
  ASSERT_NO_FATAL_FAILURE(SubscribeLibrary("test.raw"));
  const CliResult plain = Run({"publish", "test.raw", "not json", "--raw"});
  ASSERT_EQ(plain.exit_code, 0) << plain;
  const std::string binary("\x00\xff\n{", 4);
  const CliResult typed = RunWithInput(
      {"publish", "test.raw", "-", "--raw", "--type=some.Thing"}, binary);
  ASSERT_EQ(typed.exit_code, 0) << typed;
  const std::vector<Received> received = WaitForReceived(2);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].payload, "not json");
  EXPECT_THAT(received[0].type, IsEmpty());
  EXPECT_EQ(received[1].payload, binary);
  EXPECT_EQ(received[1].type, "some.Thing");
}

TEST_F(CliTopicsTest, PublishRefusesBadInput) {
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  const std::string type = "--type=switchboard.testing.AllKinds";
  const CliResult unknown_type =
      Run({"publish", "test.topic", "{}", "--type=switchboard.testing.Nope"});
  EXPECT_EQ(unknown_type.exit_code, 4) << unknown_type;
  EXPECT_THAT(unknown_type.stderr_text, StartsWith(ErrorPrefix("NOT_FOUND")));

  const CliResult bad_json = Run({"publish", "test.topic", "{\"text\"", type});
  EXPECT_EQ(bad_json.exit_code, 3) << bad_json;
  EXPECT_THAT(bad_json.stderr_text,
              StartsWith(ErrorPrefix("INVALID_ARGUMENT")));

  const CliResult misfit =
      Run({"publish", "test.topic", R"({"colour": 1})", type});
  EXPECT_EQ(misfit.exit_code, 3) << misfit;
  EXPECT_THAT(misfit.stderr_text, HasSubstr("colour"));

  const CliResult bad_topic = Run({"publish", "test..topic", "{}", type});
  EXPECT_EQ(bad_topic.exit_code, 3) << bad_topic;
  EXPECT_THAT(bad_topic.stderr_text,
              StartsWith(ErrorPrefix("INVALID_ARGUMENT")));

  const CliResult reserved = Run({"publish", "switchboard.mine", "{}", type});
  EXPECT_EQ(reserved.exit_code, 6) << reserved;
  EXPECT_THAT(reserved.stderr_text,
              StartsWith(ErrorPrefix("PERMISSION_DENIED")));
}

TEST_F(CliTopicsTest, SubscribePrintsTheVideoServersClipEvent) {
  ASSERT_NO_FATAL_FAILURE(StartVideoServer());
  const uint64_t video_id = VideoConnectionId();
  std::optional<ChildProcess> subscriber =
      StartSubscriber({"video.events.>", "--count=1"});
  ASSERT_TRUE(subscriber.has_value());

  examples::video::LoadClipRequest load;
  load.set_name("second");
  load.set_frame_count(7);
  ASSERT_THAT(client_->Call<examples::video::ClipLoaded>(
                  "video.frames", "LoadClip", load, kWaitTimeout),
              IsOk());

  const Struct event = ReadObject(*subscriber, "subscribe");
  EXPECT_EQ(StringField(event, "topic"), "video.events.clip_loaded");
  EXPECT_EQ(StringField(event, "type"),
            "switchboard.examples.video.ClipLoaded");
  EXPECT_EQ(IntegerField(event, "sender"), video_id);
  EXPECT_THAT(StringField(event, "time"), EndsWith("Z"));
  absl::StatusOr<examples::video::ClipLoaded> clip =
      MessageField<examples::video::ClipLoaded>(event, "message");
  ASSERT_THAT(clip, IsOk());
  EXPECT_EQ(clip->name(), "second");
  EXPECT_EQ(clip->frame_count(), 7u);
  EXPECT_EQ(clip->width(), 64u);
  EXPECT_THAT(subscriber->Wait(kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("subscribe");
}

TEST_F(CliTopicsTest, SubscribePrintsTheChatRoom) {
  std::optional<ChildProcess> subscriber =
      StartSubscriber({"chat.room.>", "--count=2", "--json"});
  ASSERT_TRUE(subscriber.has_value());
  // chat's join is its first message: it describes its type as it sends it.
  absl::StatusOr<examples::chat::ChatProcess> alice =
      examples::chat::ChatProcess::Join(broker_, "lobby", "alice",
                                        kWaitTimeout);
  ASSERT_THAT(alice, IsOk());
  ASSERT_THAT(alice->Say("hello, bus"), IsOk());

  const Struct joined = ReadObject(*subscriber, "subscribe");
  const Struct said = ReadObject(*subscriber, "subscribe");
  for (const Struct* line : {&joined, &said}) {
    EXPECT_EQ(StringField(*line, "topic"), "chat.room.lobby");
    EXPECT_EQ(StringField(*line, "type"),
              "switchboard.examples.chat.ChatMessage");
    EXPECT_EQ(IntegerField(*line, "sender"), alice->id());
  }
  absl::StatusOr<examples::chat::ChatMessage> hello =
      MessageField<examples::chat::ChatMessage>(joined, "message");
  ASSERT_THAT(hello, IsOk());
  EXPECT_EQ(hello->nick(), "alice");
  EXPECT_TRUE(hello->has_joined());
  absl::StatusOr<examples::chat::ChatMessage> text =
      MessageField<examples::chat::ChatMessage>(said, "message");
  ASSERT_THAT(text, IsOk());
  EXPECT_EQ(text->nick(), "alice");
  EXPECT_EQ(text->text(), "hello, bus");
  EXPECT_THAT(subscriber->Wait(kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("subscribe");
}

TEST_F(CliTopicsTest, SubscribeDecodesWhatAServicePublishes) {
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  const uint64_t echo_id = EchoConnectionId();
  std::optional<ChildProcess> subscriber =
      StartSubscriber({"test.announce.>", "--count=1"});
  ASSERT_TRUE(subscriber.has_value());
  // The echo service publishes the AllKinds it is given, typed.
  const CliResult announced =
      Run({"call", "test.echo", "Announce",
           absl::StrCat(R"({"topic": "test.announce.shapes", "message": )",
                        kShapes, "}"),
           "--json"});
  ASSERT_EQ(announced.exit_code, 0) << announced;
  absl::StatusOr<Announced> reply = ParseJson<Announced>(announced.stdout_text);
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->topic(), "test.announce.shapes");

  const Struct line = ReadObject(*subscriber, "subscribe");
  EXPECT_EQ(StringField(line, "topic"), "test.announce.shapes");
  EXPECT_EQ(StringField(line, "type"), "switchboard.testing.AllKinds");
  EXPECT_EQ(IntegerField(line, "sender"), echo_id);
  absl::StatusOr<AllKinds> message = MessageField<AllKinds>(line, "message");
  ASSERT_THAT(message, IsOk());
  EXPECT_TRUE(MessageDifferencer::Equals(*message, Shapes()))
      << message->ShortDebugString();
  EXPECT_THAT(subscriber->Wait(kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("subscribe");
}

TEST_F(CliTopicsTest, SubscribeShowsUndescribedPayloadsAsBase64) {
  std::optional<ChildProcess> subscriber =
      StartSubscriber({"test.opaque", "--count=1"});
  ASSERT_TRUE(subscriber.has_value());
  ASSERT_THAT(
      client_->PublishConfirmed("test.opaque", Payload::Copy("\x01\x02\x03")),
      IsOk());
  const Struct line = ReadObject(*subscriber, "subscribe");
  EXPECT_EQ(StringField(line, "payload_base64"), "AQID")
      << line.ShortDebugString();
  EXPECT_FALSE(line.fields().contains("message")) << line.ShortDebugString();
  ASSERT_TRUE(line.fields().contains("type")) << line.ShortDebugString();
  EXPECT_EQ(StringField(line, "type"), "");
  EXPECT_EQ(IntegerField(line, "sender"), client_->connection_id());
  EXPECT_THAT(subscriber->Wait(kWaitTimeout), IsOkAndHolds(0));
}

TEST_F(CliTopicsTest, SubscribeDecodesTheBrokersOwnMessages) {
  std::optional<ChildProcess> subscriber =
      StartSubscriber({"switchboard.name.>", "--count=1"});
  ASSERT_TRUE(subscriber.has_value());
  ASSERT_THAT(client_->Serve(Service("test.named")), IsOk());
  const Struct line = ReadObject(*subscriber, "subscribe");
  EXPECT_EQ(StringField(line, "topic"), "switchboard.name.test.named");
  EXPECT_EQ(StringField(line, "type"), "switchboard.v1.NameOwnerChanged");
  EXPECT_EQ(IntegerField(line, "sender"), 0u);
  absl::StatusOr<v1::NameOwnerChanged> changed =
      MessageField<v1::NameOwnerChanged>(line, "message");
  ASSERT_THAT(changed, IsOk());
  EXPECT_EQ(changed->name(), "test.named");
  EXPECT_EQ(changed->old_owner(), 0u);
  EXPECT_EQ(changed->new_owner(), client_->connection_id());
  EXPECT_THAT(subscriber->Wait(kWaitTimeout), IsOkAndHolds(0));
}

TEST_F(CliTopicsTest, SubscribeEndsWellOnSigtermAndUnavailableWithoutBroker) {
  std::optional<ChildProcess> stopped = StartSubscriber({"test.stopped"});
  ASSERT_TRUE(stopped.has_value());
  EXPECT_THAT(stopped->Stop(SIGTERM, kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("subscribe");

  std::optional<ChildProcess> orphan = StartSubscriber({"test.orphan"});
  ASSERT_TRUE(orphan.has_value());
  ASSERT_THAT(broker_.Stop(), IsOkAndHolds(0));
  EXPECT_THAT(orphan->Wait(kWaitTimeout), IsOkAndHolds(7))
      << BackgroundStderr("subscribe");
  EXPECT_THAT(BackgroundStderr("subscribe"),
              StartsWith(ErrorPrefix("UNAVAILABLE")));
}

TEST_F(CliTopicsTest, SubscribeReportsTheMessagesTheBrokerDropped) {
  std::optional<ChildProcess> subscriber = StartSubscriber({"test.flood"});
  ASSERT_TRUE(subscriber.has_value());
  // Stopped, it reads nothing: its socket fills up, then its subscription's
  // queue (1024 messages by default), and the broker drops the oldest.
  ASSERT_THAT(subscriber->Signal(SIGSTOP), IsOk());
  constexpr int kPublished = 3000;
  const std::string padding(1000, 'x');
  for (int i = 0; i < kPublished - 1; ++i) {
    ASSERT_THAT(
        client_->Publish("test.flood", Payload(absl::StrCat(i, " ", padding))),
        IsOk());
  }
  ASSERT_THAT(client_->PublishConfirmed(
                  "test.flood", Payload(absl::StrCat(kPublished - 1, " last"))),
              IsOk());
  ASSERT_THAT(subscriber->Signal(SIGCONT), IsOk());

  uint64_t received = 0;
  uint64_t dropped = 0;
  uint64_t reports = 0;
  while (received + dropped < kPublished) {
    const Struct line = ReadObject(*subscriber, "subscribe");
    if (line.fields().empty()) break;  // ReadObject failed the test
    if (line.fields().contains("dropped")) {
      ++reports;
      dropped += IntegerField(line, "dropped");
      EXPECT_EQ(IntegerField(line, "total"), dropped);
      EXPECT_THAT(StringField(line, "reason"), Not(IsEmpty()));
      EXPECT_THAT(StringField(line, "time"), EndsWith("Z"));
    } else {
      ++received;
    }
  }
  EXPECT_EQ(received + dropped, static_cast<uint64_t>(kPublished));
  EXPECT_GE(reports, 1u);
  EXPECT_GT(dropped, 0u);
  EXPECT_THAT(subscriber->Stop(SIGTERM, kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("subscribe");
}

TEST_F(CliTopicsTest, SubscribeEndsAtItsTimeout) {
  // Long enough to connect on a loaded machine: it also limits connecting.
  const CliResult quiet = Run({"subscribe", "test.quiet", "--timeout=1s"});
  EXPECT_EQ(quiet.exit_code, 0) << quiet;
  EXPECT_THAT(quiet.stdout_text, IsEmpty());

  const CliResult short_of_count =
      Run({"subscribe", "test.quiet", "--count=1", "--timeout=300ms"});
  EXPECT_EQ(short_of_count.exit_code, 5) << short_of_count;
  EXPECT_THAT(short_of_count.stderr_text,
              StartsWith(ErrorPrefix("DEADLINE_EXCEEDED")));

  const CliResult bad_pattern = Run({"subscribe", "test.>.after"});
  EXPECT_EQ(bad_pattern.exit_code, 3) << bad_pattern;
  EXPECT_THAT(bad_pattern.stderr_text,
              StartsWith(ErrorPrefix("INVALID_ARGUMENT")));
}

TEST_F(CliTopicsTest, WaitReturnsAtOnceForAnOwnedName) {
  ASSERT_NO_FATAL_FAILURE(StartEcho());
  const uint64_t echo_id = EchoConnectionId();
  const CliResult human = Run({"wait", "test.echo"});
  ASSERT_EQ(human.exit_code, 0) << human;
  EXPECT_EQ(human.stdout_text,
            absl::StrCat("test.echo is owned by :", echo_id, "\n"));

  const CliResult json = Run({"wait", "test.echo", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json;
  absl::StatusOr<Struct> owner = ParseJsonObject(json.stdout_text);
  ASSERT_THAT(owner, IsOk());
  EXPECT_EQ(StringField(*owner, "name"), "test.echo");
  EXPECT_EQ(IntegerField(*owner, "owner"), echo_id);
}

TEST_F(CliTopicsTest, WaitReturnsWhenTheNameIsClaimed) {
  std::optional<ChildProcess> waiter =
      StartInBackground({"wait", "test.later", "--json"}, "wait");
  ASSERT_TRUE(waiter.has_value());
  // Connected and still waiting: the name has no owner yet.
  ASSERT_THAT(WaitForConnectionOf(
                  *client_, waiter->pid(),
                  [](const v1::ConnectionInfo&) { return true; }, kWaitTimeout),
              IsOk())
      << BackgroundStderr("wait");
  EXPECT_THAT(waiter->Wait(absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kDeadlineExceeded));

  std::unique_ptr<Client> owner = ConnectOrDie(broker_, "later");
  ASSERT_THAT(owner->Serve(Service("test.later")), IsOk());
  const Struct line = ReadObject(*waiter, "wait");
  EXPECT_EQ(StringField(line, "name"), "test.later");
  EXPECT_EQ(IntegerField(line, "owner"), owner->connection_id());
  EXPECT_THAT(waiter->Wait(kWaitTimeout), IsOkAndHolds(0))
      << BackgroundStderr("wait");
}

TEST_F(CliTopicsTest, WaitGivesUpAtItsTimeout) {
  const CliResult never = Run({"wait", "test.never", "--timeout=300ms"});
  EXPECT_EQ(never.exit_code, 5) << never;
  EXPECT_THAT(never.stderr_text, StartsWith(ErrorPrefix("DEADLINE_EXCEEDED")));
  EXPECT_THAT(never.stdout_text, IsEmpty());

  const CliResult bad_name = Run({"wait", "test..name"});
  EXPECT_EQ(bad_name.exit_code, 3) << bad_name;
}

}  // namespace
}  // namespace switchboard::testing
