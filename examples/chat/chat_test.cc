// SPDX-License-Identifier: MIT
//
// The chat example end to end: several `chat` processes talk through the
// real switchboardd on a temporary socket. Lines reach everyone else in the
// room with nick and sender id, never the sender itself nor other rooms;
// joins and leaves (end of input, SIGINT) are announced, and a chat killed
// without leaving is reported; bad arguments are usage errors. BrokerProcess
// and ChatProcess stop every process they started and remove the folder.
#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "chat_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace switchboard::examples::chat {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::ProgramResult;
using ::switchboard::testing::RunProgram;
using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

// Long enough never to expire on a loaded machine when things work.
constexpr absl::Duration kTimeout = absl::Seconds(20);

ChatProcess JoinOrDie(const BrokerProcess& broker, const std::string& room,
                      const std::string& nick) {
  absl::StatusOr<ChatProcess> chat =
      ChatProcess::Join(broker, room, nick, kTimeout);
  if (!chat.ok()) {
    ADD_FAILURE() << nick << ": " << chat.status() << "\nbroker stderr:\n"
                  << broker.ReadStderr();
    std::abort();
  }
  return *std::move(chat);
}

// "NICK (:ID)": how `chat` shows in the others' output.
std::string Who(const ChatProcess& chat) {
  return absl::StrCat(chat.nick(), " (:", chat.id(), ")");
}

// A line of text from `chat` as the others print it: time, nick, id, text.
::testing::Matcher<std::string> LineFrom(const ChatProcess& chat,
                                         const std::string& text) {
  return AllOf(ContainsRegex("^\\[[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\\] "),
               EndsWith(absl::StrCat("] ", Who(chat), ": ", text)));
}

class ChatTest : public ::testing::Test {
 protected:
  BrokerProcess broker_;
};

TEST_F(ChatTest, ALineReachesEveryoneElseInTheRoomWithNickAndSender) {
  ASSERT_TRUE(broker_.started());
  ChatProcess alice = JoinOrDie(broker_, "lobby", "alice");
  ChatProcess bob = JoinOrDie(broker_, "lobby", "bob");
  ChatProcess carol = JoinOrDie(broker_, "lobby", "carol");
  EXPECT_NE(alice.id(), bob.id());
  EXPECT_NE(bob.id(), carol.id());

  ASSERT_THAT(alice.Say("hello from alice"), IsOk());
  EXPECT_THAT(bob.ReadLineContaining("hello from alice", kTimeout),
              IsOkAndHolds(LineFrom(alice, "hello from alice")));
  EXPECT_THAT(carol.ReadLineContaining("hello from alice", kTimeout),
              IsOkAndHolds(LineFrom(alice, "hello from alice")));

  ASSERT_THAT(bob.Say("hi alice, bob here"), IsOk());
  EXPECT_THAT(carol.ReadLineContaining("bob here", kTimeout),
              IsOkAndHolds(LineFrom(bob, "hi alice, bob here")));
  // Alice's own line never comes back to her: all she printed before bob's
  // line are the joins of bob and carol.
  std::vector<std::string> before_bob;
  EXPECT_THAT(alice.ReadLineContaining("bob here", kTimeout, &before_bob),
              IsOkAndHolds(LineFrom(bob, "hi alice, bob here")));
  EXPECT_THAT(before_bob,
              ::testing::ElementsAre(
                  EndsWith(absl::StrCat("* ", Who(bob), " joined")),
                  EndsWith(absl::StrCat("* ", Who(carol), " joined"))));
}

TEST_F(ChatTest, RoomsAreSeparate) {
  ASSERT_TRUE(broker_.started());
  ChatProcess alice = JoinOrDie(broker_, "lobby", "alice");
  ChatProcess bob = JoinOrDie(broker_, "lobby", "bob");
  ChatProcess dave = JoinOrDie(broker_, "kitchen", "dave");
  ChatProcess erin = JoinOrDie(broker_, "kitchen", "erin");

  ASSERT_THAT(dave.Say("kitchen only"), IsOk());
  // Once erin has it the broker has routed it; the broker handles one
  // message at a time, so anything it sent bob would come before alice's.
  ASSERT_THAT(erin.ReadLineContaining("kitchen only", kTimeout),
              IsOkAndHolds(LineFrom(dave, "kitchen only")));
  ASSERT_THAT(alice.Say("lobby only"), IsOk());
  std::vector<std::string> before;
  ASSERT_THAT(bob.ReadLineContaining("lobby only", kTimeout, &before),
              IsOkAndHolds(LineFrom(alice, "lobby only")));
  for (const std::string& line : before) {
    EXPECT_THAT(line, Not(HasSubstr("dave"))) << "bob is not in the kitchen";
  }
}

TEST_F(ChatTest, LeavingAtEndOfInputOrOnCtrlCIsAnnounced) {
  ASSERT_TRUE(broker_.started());
  ChatProcess alice = JoinOrDie(broker_, "lobby", "alice");
  ChatProcess bob = JoinOrDie(broker_, "lobby", "bob");
  ChatProcess carol = JoinOrDie(broker_, "lobby", "carol");

  // The last line has no newline: it is still sent, at end of input.
  ASSERT_THAT(bob.Type("bye"), IsOk());
  bob.CloseInput();
  EXPECT_THAT(bob.ReadLineContaining("chat: left room lobby", kTimeout),
              IsOkAndHolds(HasSubstr("end of input")));
  EXPECT_THAT(bob.process().Wait(kTimeout), IsOkAndHolds(0));
  EXPECT_THAT(alice.ReadLineContaining("bye", kTimeout),
              IsOkAndHolds(LineFrom(bob, "bye")));
  EXPECT_THAT(alice.ReadLineContaining(" left", kTimeout),
              IsOkAndHolds(EndsWith(absl::StrCat("* ", Who(bob), " left"))));

  ASSERT_THAT(carol.process().Signal(SIGINT), IsOk());
  EXPECT_THAT(carol.process().Wait(kTimeout), IsOkAndHolds(0));
  EXPECT_THAT(alice.ReadLineContaining(" left", kTimeout),
              IsOkAndHolds(EndsWith(absl::StrCat("* ", Who(carol), " left"))));
}

TEST_F(ChatTest, AChatKilledWithoutLeavingIsReportedFromTheBrokersEvent) {
  ASSERT_TRUE(broker_.started());
  ChatProcess alice = JoinOrDie(broker_, "lobby", "alice");
  ChatProcess bob = JoinOrDie(broker_, "lobby", "bob");
  ASSERT_THAT(alice.ReadLineContaining(" joined", kTimeout),
              IsOkAndHolds(EndsWith(absl::StrCat("* ", Who(bob), " joined"))));

  ASSERT_THAT(bob.process().Signal(SIGKILL), IsOk());
  EXPECT_THAT(alice.ReadLineContaining("disconnected", kTimeout),
              IsOkAndHolds(EndsWith(absl::StrCat(
                  "* ", Who(bob), " disconnected without leaving"))));
}

TEST(ChatUsageTest, ARoomIsRequiredAndMustBeOneTopicToken) {
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{
           {SWITCHBOARD_CHAT_PATH, "--nick=alice"},
           {SWITCHBOARD_CHAT_PATH, "--room=a.b", "--nick=alice"},
           {SWITCHBOARD_CHAT_PATH, "--room=lobby", "--nick="},
           {SWITCHBOARD_CHAT_PATH, "--room=lobby", "--nick=alice", "extra"}}) {
    absl::StatusOr<ProgramResult> result = RunProgram(argv, kTimeout);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->exit_code, 2) << argv[1];
    EXPECT_THAT(result->stderr_text, HasSubstr("chat: ")) << argv[1];
  }
}

}  // namespace
}  // namespace switchboard::examples::chat
