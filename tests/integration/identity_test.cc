// SPDX-License-Identifier: MIT
//
// Who is calling, through the real broker: a callee asks GetIdentity about
// its caller (CallInfo::caller) and gets what the kernel told the broker
// when the caller connected, for a caller in this process (Unix and TCP)
// and for the CLI run as another user; a caller asks about the callee the
// same way.
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "io/peer_identity.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/testing/schema_echo.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/cli_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/unprivileged_run.h"
#include "tests/testing/wait_for.h"

namespace switchboard::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::string OwnExe() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path));
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

// test.who/Who: asks the broker who called, keeps the answer, echoes.
class WhoService {
 public:
  explicit WhoService(Client& client) : client_(client) {}

  Service Make() {
    Service service("test.who");
    service.AddMethod<AllKinds, AllKinds>(
        "Who",
        [this](const CallInfo& info,
               const AllKinds& request) -> absl::StatusOr<AllKinds> {
          absl::StatusOr<v1::Identity> identity =
              client_.GetIdentity(info.caller);
          absl::MutexLock lock(&mu_);
          last_ = identity;
          caller_ = info.caller;
          return request;
        });
    return service;
  }

  std::optional<absl::StatusOr<v1::Identity>> last() const {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  uint64_t caller() const {
    absl::MutexLock lock(&mu_);
    return caller_;
  }

 private:
  Client& client_;
  mutable absl::Mutex mu_;
  std::optional<absl::StatusOr<v1::Identity>> last_ ABSL_GUARDED_BY(mu_);
  uint64_t caller_ ABSL_GUARDED_BY(mu_) = 0;
};

class IdentityTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.started());
    service_ = ConnectOrDie(broker_, "who");
    who_ = std::make_unique<WhoService>(*service_);
    ASSERT_THAT(service_->Serve(who_->Make()), IsOk());
  }
  bool unix_socket() const { return GetParam() == Transport::kUnix; }

  BrokerProcess broker_{GetParam()};
  std::unique_ptr<Client> service_;
  std::unique_ptr<WhoService> who_;
};

TEST_P(IdentityTest, ACalleeLearnsWhoCalledIt) {
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  AllKinds request;
  request.set_text("hello");
  ASSERT_THAT(caller->Call<AllKinds>("test.who", "Who", request), IsOk());
  const std::optional<absl::StatusOr<v1::Identity>> last = who_->last();
  ASSERT_TRUE(last.has_value());
  const absl::StatusOr<v1::Identity>& identity = *last;
  ASSERT_THAT(identity, IsOk());
  EXPECT_EQ(who_->caller(), caller->connection_id());
  EXPECT_EQ(identity->uid(), ::getuid());
  if (unix_socket()) {
    EXPECT_EQ(identity->gid(), ::getgid());
    EXPECT_EQ(identity->pid(), static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(identity->pid_start_time(), io::ProcessStartTime(::getpid()));
    EXPECT_EQ(identity->exe(), OwnExe());
    EXPECT_TRUE(identity->process_verified());
  } else {
    // The broker knows no process behind a TCP connection (yet).
    EXPECT_EQ(identity->pid(), 0u);
    EXPECT_EQ(identity->exe(), "");
    EXPECT_FALSE(identity->process_verified());
  }
}

TEST_P(IdentityTest, ACallerLearnsWhoServesTheName) {
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  absl::StatusOr<v1::Identity> callee =
      caller->GetIdentity(service_->connection_id());
  ASSERT_THAT(callee, IsOk());
  EXPECT_EQ(callee->uid(), ::getuid());
  EXPECT_EQ(callee->process_verified(), unix_socket());
}

TEST_P(IdentityTest, AGoneConnectionIsNotFoundUnlessAlreadyKnown) {
  std::unique_ptr<Client> asker = ConnectOrDie(broker_, "asker");
  EXPECT_THAT(asker->GetIdentity(999999),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(asker->GetIdentity(0), StatusIs(absl::StatusCode::kNotFound));

  std::unique_ptr<Client> known = ConnectOrDie(broker_, "known");
  std::unique_ptr<Client> unknown = ConnectOrDie(broker_, "unknown");
  const uint64_t known_id = known->connection_id();
  const uint64_t unknown_id = unknown->connection_id();
  ASSERT_THAT(asker->GetIdentity(known_id), IsOk());
  known.reset();
  unknown.reset();
  // Gone once the broker has seen the close. Each question comes from a
  // new client: an answer given before the broker saw the close would be
  // kept, and rightly so.
  absl::Status last;
  EXPECT_TRUE(WaitFor(
      [&] {
        last = ConnectOrDie(broker_, "late")->GetIdentity(unknown_id).status();
        return last.code() == absl::StatusCode::kNotFound;
      },
      kTimeout))
      << "connection :" << unknown_id << ": " << last;
  // An identity once given stays true (ids are never reused): kept.
  EXPECT_THAT(asker->GetIdentity(known_id), IsOk());
}

INSTANTIATE_TEST_SUITE_P(AllTransports, IdentityTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

TEST(IdentityOfAnotherUserTest, TheCliRunAsNobodyIsSeenAsNobody) {
  BrokerProcess broker(Transport::kUnix);
  ASSERT_TRUE(broker.started());
  // Test-only: let nobody reach the broker's socket.
  ASSERT_EQ(::chmod(broker.dir().c_str(), 0711), 0);
  ASSERT_EQ(::chmod(broker.socket_path().c_str(), 0666), 0);
  std::unique_ptr<Client> service = ConnectOrDie(broker, "who");
  WhoService who(*service);
  ASSERT_THAT(service->Serve(who.Make()), IsOk());

  absl::StatusOr<ExecutableCopy> tool = ExecutableCopy::For(
      SwitchboardCliPath(), kNobody, {SwitchboardLibraryPath()});
  ASSERT_THAT(tool, IsOk());
  absl::StatusOr<CliResult> called =
      RunAsUser(kNobody,
                {tool->path(), absl::StrCat("--address=", broker.address()),
                 "call", "test.who", "Who", R"({"text": "from nobody"})"},
                kTimeout, tool->environment());
  ASSERT_THAT(called, IsOk());
  ASSERT_EQ(called->exit_code, 0) << *called;

  const std::optional<absl::StatusOr<v1::Identity>> last = who.last();
  ASSERT_TRUE(last.has_value());
  const absl::StatusOr<v1::Identity>& identity = *last;
  ASSERT_THAT(identity, IsOk());
  EXPECT_EQ(identity->uid(), kNobody.uid);
  EXPECT_EQ(identity->gid(), kNobody.gid);
  EXPECT_EQ(identity->groups_size(), 0) << "RunAsUser drops them all";
  EXPECT_NE(identity->pid(), static_cast<uint32_t>(::getpid()));
  // The broker (root here) reads the process's /proc entries.
  EXPECT_TRUE(identity->process_verified());
  EXPECT_EQ(identity->exe(), tool->path());
}

}  // namespace
}  // namespace switchboard::testing
