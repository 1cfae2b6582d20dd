// SPDX-License-Identifier: MIT
//
// switchboardd as a program: its command line and exit codes, refusing to
// start where it must not (a non-loopback TCP address, a live broker on the
// same socket, a socket path it cannot bind), taking over a stale socket,
// the modes of the files it creates, and a clean shutdown on SIGTERM and
// SIGINT that tells clients and removes the socket.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"

namespace switchboard {
namespace {

using ::switchboard::testing::BrokerOptions;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::ProgramResult;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::RunProgram;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::SwitchboarddPath;
using ::switchboard::testing::Transport;
using ::switchboard::testing::TransportTestName;
using ::switchboard::testing::WaitFor;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(20);
constexpr absl::Duration kPromptly = absl::Seconds(5);

// A fresh folder under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char path[] = "/tmp/sbt-XXXXXX";
    if (::mkdtemp(path) == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
      return;
    }
    path_ = path;
  }
  ~TempDir() {
    std::error_code error;
    if (!path_.empty()) std::filesystem::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs switchboardd with `flags` (and a token file in `dir`, so a broker
// that wrongly starts never touches the real runtime folder) and expects it
// to exit by itself.
absl::StatusOr<ProgramResult> RunSwitchboardd(const TempDir& dir,
                                              std::vector<std::string> flags) {
  std::vector<std::string> argv = {SwitchboarddPath()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back(absl::StrCat("--token-file=", dir.path(), "/token"));
  return RunProgram(argv, kTimeout);
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

TEST(SwitchboarddTest, HelpDescribesTheFlagsAndExitsZero) {
  absl::StatusOr<ProgramResult> result =
      RunProgram({SwitchboarddPath(), "--help"}, kTimeout);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 0);
  for (const char* flag :
       {"--address", "--token-file", "--max-payload-bytes",
        "--max-header-bytes", "--max-pending-calls", "--max-queued-bytes",
        "--call-timeout", "--handshake-timeout", "--print-address",
        "--log-level"}) {
    EXPECT_THAT(result->stdout_text, HasSubstr(flag));
  }
}

TEST(SwitchboarddTest, UnknownFlagIsAUsageErrorWithExitCode2) {
  TempDir dir;
  absl::StatusOr<ProgramResult> result =
      RunSwitchboardd(dir, {absl::StrCat("--address=unix:", dir.path(), "/bus"),
                            "--no-such-flag=1"});
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 2);
  EXPECT_THAT(result->stderr_text, HasSubstr("no-such-flag"));
  EXPECT_FALSE(Exists(dir.path() + "/bus"));
}

TEST(SwitchboarddTest, MalformedFlagValueIsAUsageError) {
  TempDir dir;
  absl::StatusOr<ProgramResult> result =
      RunSwitchboardd(dir, {absl::StrCat("--address=unix:", dir.path(), "/bus"),
                            "--max-pending-calls=many"});
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 2);
  EXPECT_THAT(result->stderr_text, HasSubstr("max-pending-calls"));
}

TEST(SwitchboarddTest, NonLoopbackTcpAddressIsRefusedWithExitCode1) {
  TempDir dir;
  for (const char* address : {"tcp:0.0.0.0:0", "tcp:192.0.2.1:0"}) {
    absl::StatusOr<ProgramResult> result =
        RunSwitchboardd(dir, {absl::StrCat("--address=", address)});
    ASSERT_THAT(result, IsOk()) << address;
    EXPECT_EQ(result->exit_code, 1) << address;
    EXPECT_THAT(
        result->stderr_text,
        AnyOf(HasSubstr("loopback"), HasSubstr(std::string(address).substr(4))))
        << address;
  }
}

TEST(SwitchboarddTest, SecondBrokerOnALiveSocketExitsWithCode1) {
  BrokerProcess first(Transport::kUnix);
  ASSERT_TRUE(first.started());
  TempDir dir;
  absl::StatusOr<ProgramResult> second =
      RunSwitchboardd(dir, {absl::StrCat("--address=", first.unix_address())});
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->exit_code, 1);
  EXPECT_THAT(second->stderr_text, Not(IsEmpty()));
  // The first broker keeps its socket and its clients.
  EXPECT_TRUE(S_ISSOCK(ModeOf(first.socket_path())));
  std::unique_ptr<Client> client = ConnectOrDie(first);
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

TEST(SwitchboarddTest, SocketPathItCannotBindExitsWithCode1) {
  TempDir dir;
  // Longer than sun_path (108 bytes).
  const std::string too_long =
      absl::StrCat(dir.path(), "/", std::string(120, 'x'));
  absl::StatusOr<ProgramResult> result =
      RunSwitchboardd(dir, {absl::StrCat("--address=unix:", too_long)});
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(result->exit_code, AnyOf(1, 2));
  EXPECT_THAT(result->stderr_text, Not(IsEmpty()));

  // A folder that cannot be created: its parent is a regular file.
  const std::string file = dir.path() + "/file";
  std::ofstream(file) << "not a folder";
  result =
      RunSwitchboardd(dir, {absl::StrCat("--address=unix:", file, "/bus")});
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->stderr_text, Not(IsEmpty()));
}

TEST(SwitchboarddTest, StaleSocketFileIsReplaced) {
  TempDir dir;
  const std::string path = dir.path() + "/bus";
  {
    // Bound and closed: the file stays, nobody listens.
    Fd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    ASSERT_TRUE(fd.valid());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(
        ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address),
        0)
        << std::strerror(errno);
  }
  ASSERT_TRUE(S_ISSOCK(ModeOf(path)));
  BrokerOptions options;
  options.dir = dir.path();
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> client = ConnectOrDie(broker);
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

TEST(SwitchboarddTest, CreatesPrivateFolderSocketAndTokenWhateverTheUmask) {
  TempDir dir;
  // With umask 0 every mode the broker gets right, it set on purpose.
  const mode_t old_umask = ::umask(0);
  BrokerOptions options;
  options.transport = Transport::kTcp;
  options.dir = dir.path();
  options.socket_name = "run/bus";
  BrokerProcess broker(options);
  ::umask(old_umask);
  ASSERT_TRUE(broker.started());

  const mode_t folder = ModeOf(dir.path() + "/run");
  EXPECT_TRUE(S_ISDIR(folder));
  EXPECT_EQ(folder & 07777, 0700u) << std::oct << (folder & 07777);
  const mode_t socket = ModeOf(broker.socket_path());
  EXPECT_TRUE(S_ISSOCK(socket));
  EXPECT_EQ(socket & 07777, 0600u) << std::oct << (socket & 07777);
  EXPECT_EQ(broker.token_file(), dir.path() + "/run/token");
  const mode_t token = ModeOf(broker.token_file());
  EXPECT_TRUE(S_ISREG(token));
  EXPECT_EQ(token & 07777, 0600u) << std::oct << (token & 07777);
  EXPECT_THAT(broker.ReadToken(),
              IsOkAndHolds(::testing::MatchesRegex("[0-9a-f]{64}")));
}

TEST(SwitchboarddTest, TokenFileFlagPutsTheTokenWhereAsked) {
  TempDir dir;
  BrokerOptions options;
  options.transport = Transport::kTcp;
  options.flags = {absl::StrCat("--token-file=", dir.path(), "/my-token")};
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.started());
  EXPECT_EQ(broker.token_file(), dir.path() + "/my-token");
  EXPECT_EQ(ModeOf(broker.token_file()) & 07777, 0600u);
  std::unique_ptr<Client> client = ConnectOrDie(broker);
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

class ShutdownTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.started()); }

  BrokerProcess broker_{GetParam()};
};

TEST_P(ShutdownTest, SigtermTellsClientsRemovesTheSocketAndExitsZero) {
  // A service whose handler holds a call until the broker is gone.
  std::unique_ptr<Client> service = ConnectOrDie(broker_, "service");
  auto release = std::make_shared<absl::Notification>();
  auto entered = std::make_shared<absl::Notification>();
  Service slow("test.slow");
  slow.AddMethod("Block",
                 [release, entered](const CallInfo&,
                                    const Payload&) -> absl::StatusOr<Payload> {
                   entered->Notify();
                   release->WaitForNotificationWithTimeout(kTimeout);
                   return Payload();
                 });
  ASSERT_THAT(service->Serve(std::move(slow)), IsOk());
  absl::Cleanup release_handler = [release] {
    if (!release->HasBeenNotified()) release->Notify();
  };

  absl::Mutex mu;
  int results = 0;
  absl::StatusOr<Payload> pending_result = absl::UnknownError("none");
  std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
  caller->CallAsync("test.slow", "Block", "x", kTimeout,
                    [&](absl::StatusOr<Payload> result) {
                      absl::MutexLock lock(&mu);
                      ++results;
                      pending_result = std::move(result);
                    });
  ASSERT_TRUE(entered->WaitForNotificationWithTimeout(kTimeout));

  absl::StatusOr<std::string> token = broker_.ReadToken();
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<RawConnection> raw = RawConnection::Connect(broker_.address());
  ASSERT_THAT(raw, IsOk());
  ASSERT_THAT(raw->Handshake(*token), IsOk());

  ASSERT_THAT(broker_.Signal(SIGTERM), IsOk());
  EXPECT_THAT(broker_.Wait(kTimeout), IsOkAndHolds(0));
  EXPECT_FALSE(Exists(broker_.socket_path()))
      << broker_.socket_path() << " is still there";

  // The raw client was told why before the connection ended.
  absl::StatusOr<std::vector<wire::Frame>> frames =
      raw->ReadUntilClosed(kTimeout);
  ASSERT_THAT(frames, IsOk());
  ASSERT_EQ(frames->size(), 1u);
  EXPECT_EQ((*frames)[0].kind(), wire::Kind::kEvent);
  absl::StatusOr<v1::Header> event = (*frames)[0].ParseHeader();
  ASSERT_THAT(event, IsOk());
  EXPECT_TRUE(event->event().has_shutting_down());

  // Library clients notice, their pending call ends, new calls fail.
  EXPECT_TRUE(WaitFor([&] { return !caller->connected(); }, kPromptly));
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return results > 0;
      },
      kPromptly));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(results, 1);
    EXPECT_THAT(pending_result, StatusIs(absl::StatusCode::kUnavailable));
  }
  // New calls wait for a reconnect, up to their timeout, then fail.
  EXPECT_THAT(
      caller->Call("test.slow", "Block", "y", absl::Milliseconds(200)),
      StatusIs(absl::StatusCode::kUnavailable,
               ::testing::HasSubstr("no connection came back in time")));
  EXPECT_THAT(caller->Ping(absl::Milliseconds(200)),
              StatusIs(absl::StatusCode::kUnavailable));
  release->Notify();
  EXPECT_TRUE(WaitFor([&] { return !service->connected(); }, kPromptly));
}

TEST_P(ShutdownTest, SigintAlsoExitsZeroAndRemovesTheSocket) {
  std::unique_ptr<Client> client = ConnectOrDie(broker_);
  ASSERT_THAT(client->Ping(kTimeout), IsOk());
  EXPECT_THAT(broker_.Stop(SIGINT, kTimeout), IsOkAndHolds(0));
  EXPECT_FALSE(Exists(broker_.socket_path()));
  EXPECT_TRUE(WaitFor([&] { return !client->connected(); }, kPromptly));
}

TEST_P(ShutdownTest, NewBrokerCanUseTheSamePathAfterShutdown) {
  ASSERT_THAT(broker_.Stop(SIGTERM, kTimeout), IsOkAndHolds(0));
  BrokerOptions options;
  options.transport = GetParam();
  options.dir = broker_.dir();
  BrokerProcess next(options);
  ASSERT_TRUE(next.started());
  std::unique_ptr<Client> client = ConnectOrDie(next);
  EXPECT_THAT(client->Ping(kTimeout), IsOk());
}

TEST_P(ShutdownTest, ShutdownWithManyIdleClientsIsClean) {
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(ConnectOrDie(broker_));
  EXPECT_THAT(broker_.Stop(SIGTERM, kTimeout), IsOkAndHolds(0));
  for (const std::unique_ptr<Client>& client : clients) {
    EXPECT_TRUE(WaitFor([&] { return !client->connected(); }, kPromptly));
  }
}

INSTANTIATE_TEST_SUITE_P(AllTransports, ShutdownTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp),
                         TransportTestName);

}  // namespace
}  // namespace switchboard
