// SPDX-License-Identifier: MIT
//
// Per-uid quotas against the real broker (docs/ARCHITECTURE.md, "Per-uid
// quotas"): one uid that claims names over two connections is stopped at
// --max-names-per-uid with RESOURCE_EXHAUSTED naming the flag, while
// another uid (nobody, through RunAsUser) still claims a name on the same
// broker. The router tests cover the other quotas and every refund path.
//
// Output queued for connections that do not read is charged to their uid
// (--max-queued-bytes-per-uid) and bounded for the broker as a whole
// (--max-memory): 20 subscriber connections of this uid that never read,
// fed 1 MiB messages, stay within their uid's quota, or the ceiling's
// heavy mark, while nobody's calls between its own processes go on.
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/payload.h"
#include "switchboard/service.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/cli_services.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/topic_frames.h"
#include "tests/testing/unprivileged_run.h"
#include "tests/testing/wait_for.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr int kNamesPerUid = 2;

// The v1::UidUse of `uid` in a GetStatus answer; a default one if absent.
v1::UidUse UseOf(const v1::BrokerStatus& status, uint32_t uid) {
  for (const v1::UidUse& use : status.resources().uids()) {
    if (use.uid() == uid) return use;
  }
  return v1::UidUse();
}

TEST(UidQuotasTest, AUidAtItsNamesQuotaIsRefusedWhileAnotherUidClaimsNames) {
  BrokerProcess broker(Transport::kUnix,
                       {absl::StrCat("--max-names-per-uid=", kNamesPerUid)});
  ASSERT_TRUE(broker.started());
  // Test-only: let nobody reach the broker's socket.
  ASSERT_EQ(::chmod(broker.dir().c_str(), 0711), 0);
  ASSERT_EQ(::chmod(broker.socket_path().c_str(), 0666), 0);

  // This uid's names, over two connections: the quota is the uid's, not a
  // connection's.
  std::unique_ptr<Client> first = ConnectOrDie(broker, "first");
  std::unique_ptr<Client> second = ConnectOrDie(broker, "second");
  ASSERT_THAT(first->Serve(Service("quota.one")), IsOk());
  ASSERT_THAT(second->Serve(Service("quota.two")), IsOk());
  const absl::StatusOr<NameState> refused =
      second->Serve(Service("quota.three"));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(refused.status().message(),
              HasSubstr(absl::StrCat("uid ", ::getuid(), " holds ",
                                     kNamesPerUid, " names")));
  EXPECT_THAT(refused.status().message(), HasSubstr("--max-names-per-uid"));

  // nobody claims a name (switchboard_test_echo prints "ready" once it owns
  // it) while this uid stays at its quota.
  absl::StatusOr<ExecutableCopy> echo =
      ExecutableCopy::For(TestEchoPath(), kNobody, {SwitchboardLibraryPath()});
  ASSERT_THAT(echo, IsOk());
  ASSERT_TRUE(UserMayExecute(echo->path(), kNobody)) << echo->path();
  std::vector<std::string> environment = echo->environment();
  const std::string script = absl::StrCat(
      "coproc ECHO { exec \"$0\" --address=", broker.address(),
      " --service=other.one; }; read -r line <&\"${ECHO[0]}\"; echo \"$line\"; "
      "kill \"$ECHO_PID\"; wait \"$ECHO_PID\"; exit 0");
  absl::StatusOr<CliResult> other =
      RunAsUser(kNobody, {"/bin/bash", "-c", script, echo->path()}, kTimeout,
                environment);
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->stdout_text, "ready\n") << *other;

  // The broker counts this uid's names, and nothing of nobody's now that
  // its connection is gone.
  absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*first);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->resources().max_names_per_uid(),
            static_cast<uint64_t>(kNamesPerUid));
  EXPECT_EQ(UseOf(*status, ::getuid()).names(),
            static_cast<uint64_t>(kNamesPerUid));

  // A connection that goes gives its names back to its uid.
  first.reset();
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<v1::BrokerStatus> now = GetBrokerStatus(*second);
        return now.ok() && UseOf(*now, ::getuid()).names() == 1;
      },
      kTimeout));
  EXPECT_THAT(second->Serve(Service("quota.three")), IsOk());
}

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr int kStalledSubscribers = 20;
constexpr int kFloodMessages = 120;
constexpr char kFloodTopic[] = "flood.frames";

// Runs, as nobody, a test echo service and five calls to it through the
// CLI, both its own processes on `broker`. Returns what the script printed:
// "ready\ncalls 5\n" when every call was answered.
absl::StatusOr<CliResult> NobodyCallsItsOwnService(
    const BrokerProcess& broker) {
  absl::StatusOr<ExecutableCopy> tool = ExecutableCopy::For(
      SwitchboardCliPath(), kNobody, {SwitchboardLibraryPath()});
  if (!tool.ok()) return tool.status();
  absl::StatusOr<ExecutableCopy> echo =
      ExecutableCopy::For(TestEchoPath(), kNobody, {SwitchboardLibraryPath()});
  if (!echo.ok()) return echo.status();
  const std::string address = absl::StrCat("--address=", broker.address());
  const std::string script = absl::StrCat(
      "coproc ECHO { exec \"$1\" ", address,
      " --service=other.echo; }; read -r line <&\"${ECHO[0]}\"; "
      "echo \"$line\"; ok=0; for i in 1 2 3 4 5; do \"$0\" ",
      address,
      " call other.echo Echo '{\"text\": \"hi\"}' >/dev/null && "
      "ok=$((ok+1)); done; echo \"calls $ok\"; kill \"$ECHO_PID\"; "
      "wait \"$ECHO_PID\"; exit 0");
  return RunAsUser(kNobody,
                   {"/bin/bash", "-c", script, tool->path(), echo->path()},
                   kTimeout, tool->environment());
}

// Floods: kStalledSubscribers connections of this uid subscribe to
// kFloodTopic asking for 256 MiB each and never read; a publisher sends
// kFloodMessages messages of 1 MiB, checking after each that this uid's
// queued output in GetStatus stays at or under `bound`. The stalled
// connections stay open until the test ends.
class OutputFloodTest : public ::testing::Test {
 protected:
  void StartBroker(std::vector<std::string> flags) {
    broker_ = std::make_unique<BrokerProcess>(Transport::kUnix, flags);
    ASSERT_TRUE(broker_->started());
    // Test-only: let nobody reach the broker's socket.
    ASSERT_EQ(::chmod(broker_->dir().c_str(), 0711), 0);
    ASSERT_EQ(::chmod(broker_->socket_path().c_str(), 0666), 0);
  }

  void Flood(uint64_t bound) {
    for (int i = 0; i < kStalledSubscribers; ++i) {
      absl::StatusOr<RawConnection> stalled = ConnectStalledSubscriber(
          broker_->address(), "", kFloodTopic, 256 * kMiB);
      ASSERT_THAT(stalled, IsOk());
      stalled_.push_back(*std::move(stalled));
    }
    publisher_ = ConnectOrDie(*broker_, "publisher");
    const std::string payload(kMiB, 'f');
    uint64_t peak = 0;
    for (int sent = 0; sent < kFloodMessages; ++sent) {
      ASSERT_THAT(publisher_->Publish(kFloodTopic, Payload(payload)), IsOk());
      // A call after the publish returns once the broker handled it.
      absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*publisher_);
      ASSERT_THAT(status, IsOk());
      const uint64_t queued = UseOf(*status, ::getuid()).queued_bytes();
      peak = std::max(peak, queued);
      ASSERT_LE(queued, bound) << "after " << sent + 1 << " messages";
    }
    // The flood did reach the bound: what was asked for is far more.
    EXPECT_GT(peak, bound / 2);
    std::cout << "uid " << ::getuid() << " queued at most " << peak / kMiB
              << " MiB for its stalled subscribers (bound " << bound / kMiB
              << " MiB)\n";
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::vector<RawConnection> stalled_;
  std::unique_ptr<Client> publisher_;
};

TEST_F(OutputFloodTest, StalledSubscribersStayWithinTheirUidsQuota) {
  constexpr uint64_t kQuota = 48 * kMiB;
  StartBroker({absl::StrCat("--max-queued-bytes-per-uid=", kQuota)});
  ASSERT_NO_FATAL_FAILURE(Flood(kQuota));

  absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*publisher_);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->resources().max_queued_bytes_per_uid(), kQuota);
  const v1::UidUse mine = UseOf(*status, ::getuid());
  EXPECT_GT(mine.queued_bytes_refused(), 0u);
  EXPECT_GT(status->messages_dropped(), 0u);
  EXPECT_GE(status->resources().output_refused(), mine.queued_bytes_refused());

  // nobody is untouched: its calls between its own processes go on.
  absl::StatusOr<CliResult> other = NobodyCallsItsOwnService(*broker_);
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->stdout_text, "ready\ncalls 5\n") << *other;
  // This uid's connections that read still get their replies.
  EXPECT_THAT(publisher_->Ping(), IsOk());
}

TEST_F(OutputFloodTest, NearTheCeilingTheHeaviestUidIsRefusedFirst) {
  constexpr uint64_t kCeiling = 64 * kMiB;
  // Per uid the ceiling itself: only the ceiling's heavy mark stops it.
  StartBroker({absl::StrCat("--max-memory=", kCeiling)});
  ASSERT_NO_FATAL_FAILURE(Flood(kCeiling * 3 / 4));

  absl::StatusOr<v1::BrokerStatus> status = GetBrokerStatus(*publisher_);
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(status->resources().max_memory(), kCeiling);
  EXPECT_EQ(status->resources().max_queued_bytes_per_uid(), kCeiling);
  const v1::UidUse mine = UseOf(*status, ::getuid());
  EXPECT_GT(mine.ceiling_refused(), 0u);
  EXPECT_EQ(mine.queued_bytes_refused(), 0u);

  // nobody holds nothing, so it is below any share: its calls go on.
  absl::StatusOr<CliResult> other = NobodyCallsItsOwnService(*broker_);
  ASSERT_THAT(other, IsOk());
  EXPECT_EQ(other->stdout_text, "ready\ncalls 5\n") << *other;
  absl::StatusOr<v1::BrokerStatus> after = GetBrokerStatus(*publisher_);
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(UseOf(*after, kNobody.uid).ceiling_refused(), 0u);
}

}  // namespace
}  // namespace switchboard::testing
