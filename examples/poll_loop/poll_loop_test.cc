// SPDX-License-Identifier: MIT
//
// poll-loop end to end: the real switchboardd, poll-loop as a separate
// process fed two lines on stdin, and a test client that calls its Echo
// method and hears its lines and ticks.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_for.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ChildProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::WaitFor;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

TEST(PollLoopTest, ServesPublishesAndHearsWithNoLibraryThread) {
  BrokerProcess broker;
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> observer = ConnectOrDie(broker, "observer");
  absl::Mutex mu;
  std::vector<std::string> heard;
  auto record = [&](const Message& message) {
    absl::MutexLock lock(&mu);
    heard.push_back(absl::StrCat(message.topic, " ", message.payload.view()));
  };
  absl::StatusOr<Subscription> observing =
      observer->Subscribe("demo.poll_loop.>", record);
  ASSERT_THAT(observing, IsOk());

  // Two lines on stdin, then its end; three ticks 100 ms apart.
  absl::StatusOr<ChildProcess> loop = ChildProcess::Start(
      {"/bin/sh", "-c",
       absl::StrCat("printf 'hello\\nworld\\n' | ", SWITCHBOARD_POLL_LOOP_PATH,
                    " --address=", broker.address(),
                    " --ticks=3 --interval=100ms")},
      absl::StrCat(broker.dir(), "/poll-loop.stderr"));
  ASSERT_THAT(loop, IsOk());
  absl::StatusOr<std::string> first = loop->ReadLine(kTimeout);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(*first, HasSubstr("poll-loop: serving demo.poll_loop on "));
  EXPECT_THAT(*first, HasSubstr("threads in this process: 1"));

  EXPECT_THAT(observer->Call("demo.poll_loop", "Echo", Payload("hi"), kTimeout),
              IsOkAndHolds(Payload("hi")));
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return heard.size() >= 5;
      },
      kTimeout))
      << [&] {
           absl::MutexLock lock(&mu);
           return absl::StrJoin(heard, ", ");
         }();
  {
    absl::MutexLock lock(&mu);
    EXPECT_THAT(
        heard,
        ::testing::IsSupersetOf(
            {"demo.poll_loop.lines hello", "demo.poll_loop.lines world",
             "demo.poll_loop.ticks tick 1", "demo.poll_loop.ticks tick 2",
             "demo.poll_loop.ticks tick 3"}));
  }
  std::string output;
  while (true) {
    absl::StatusOr<std::string> line = loop->ReadLine(kTimeout);
    if (!line.ok()) break;
    absl::StrAppend(&output, *line, "\n");
  }
  EXPECT_THAT(loop->Wait(kTimeout), IsOkAndHolds(0));
  EXPECT_THAT(output, HasSubstr("poll-loop: Echo from :"));
  EXPECT_THAT(output, HasSubstr("poll-loop: line from :"));
  EXPECT_THAT(output, HasSubstr("poll-loop: done after 3 ticks"));
}

TEST(PollLoopTest, UsageErrors) {
  for (const char* flag : {"--interval=0", "--ticks=-1", "extra"}) {
    absl::StatusOr<testing::ProgramResult> result =
        testing::RunProgram({SWITCHBOARD_POLL_LOOP_PATH, flag}, kTimeout);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->exit_code, 2) << flag;
    EXPECT_THAT(result->stderr_text, HasSubstr("see --help")) << flag;
  }
}

}  // namespace
}  // namespace switchboard
