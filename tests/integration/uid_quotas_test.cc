// SPDX-License-Identifier: MIT
//
// Per-uid quotas against the real broker (docs/ARCHITECTURE.md, "Per-uid
// quotas"): one uid that claims names over two connections is stopped at
// --max-names-per-uid with RESOURCE_EXHAUSTED naming the flag, while
// another uid (nobody, through RunAsUser) still claims a name on the same
// broker. The router tests cover the other quotas and every refund path.
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
#include "switchboard/service.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/cli_services.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
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

}  // namespace
}  // namespace switchboard::testing
