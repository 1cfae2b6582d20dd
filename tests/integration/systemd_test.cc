// SPDX-License-Identifier: MIT
//
// switchboardd under systemd: started by systemd-socket-activate the way
// switchboard.socket starts it (the socket exists before the broker does,
// and the broker serves the sockets it is passed, unix and tcp), refusing
// sockets it must not serve (checked also with fds passed by hand), and
// telling a notify socket READY=1 with a STATUS= line, RELOADING=1 around
// a SIGHUP's reread, STOPPING=1 and WATCHDOG=1 pings (Type=notify).
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/address.h"
#include "io/connect.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/notify_socket.h"
#include "tests/testing/socket_activation.h"
#include "tests/testing/status_matchers.h"

namespace switchboard {
namespace {

using ::switchboard::testing::HasNotifyLine;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::NotifySocket;
using ::switchboard::testing::SocketActivatedBroker;
using ::switchboard::testing::SocketActivationOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(20);

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

ConnectOptions Named(const std::string& name) {
  ConnectOptions options;
  options.client_name = name;
  return options;
}

// Serves "test.echo" on `service` and checks a call from `caller` gets
// through the broker.
void ExpectEchoThrough(Client& service, Client& caller) {
  Service echo("test.echo");
  echo.AddMethod(
      "Echo",
      [](const CallInfo&, const Payload& request) -> absl::StatusOr<Payload> {
        return Payload::Copy(request.view());
      });
  ASSERT_THAT(service.Serve(std::move(echo)), IsOk());
  EXPECT_THAT(caller.Call("test.echo", "Echo", "ping", kTimeout),
              IsOkAndHolds("ping"));
}

// Makes systemd-socket-activate start the broker, without waiting for it.
void TriggerStart(const std::string& address) {
  absl::StatusOr<Fd> fd = io::ConnectStream(*io::Address::Parse(address));
  EXPECT_THAT(fd.status(), IsOk());
}

TEST(SocketActivationTest, ClientConnectingBeforeTheBrokerStartsIsServed) {
  SocketActivatedBroker broker(SocketActivationOptions{});
  ASSERT_TRUE(broker.started());
  // systemd-socket-activate listens; the broker starts at the first client.
  ASSERT_FALSE(broker.BrokerRunning());

  absl::StatusOr<std::unique_ptr<Client>> first =
      Client::Connect(broker.unix_address(), Named("first"));
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(broker.BrokerRunning());
  absl::StatusOr<std::unique_ptr<Client>> second =
      Client::Connect(broker.unix_address(), Named("second"));
  ASSERT_THAT(second, IsOk());
  ExpectEchoThrough(**first, **second);

  EXPECT_THAT(broker.Stop(SIGTERM, kTimeout), IsOkAndHolds(0));
  // The socket file is systemd's (RemoveOnStop=), not the broker's.
  EXPECT_TRUE(Exists(broker.path("bus")));
  EXPECT_THAT(broker.ReadStderr(),
              HasSubstr(absl::StrCat("systemd passed ", broker.unix_address(),
                                     " as fd 3 ('unknown')")));
}

TEST(SocketActivationTest, NamedSocketIsServedAndLoggedByName) {
  SocketActivationOptions options;
  options.fd_names = {"bus"};
  SocketActivatedBroker broker(options);
  ASSERT_TRUE(broker.started());
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(broker.unix_address(), Named("client"));
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(broker.ReadStderr(),
              HasSubstr(absl::StrCat("systemd passed ", broker.unix_address(),
                                     " as fd 3 ('bus')")));
}

TEST(SocketActivationTest, TcpSocketIsServedWithTheTokenBesideTheUnixSocket) {
  SocketActivationOptions options;
  options.tcp = true;
  SocketActivatedBroker broker(options);
  ASSERT_TRUE(broker.started());
  ASSERT_FALSE(broker.tcp_address().empty());

  absl::StatusOr<std::unique_ptr<Client>> service =
      Client::Connect(broker.unix_address(), Named("service"));
  ASSERT_THAT(service, IsOk());
  // The token file rules of a tcp: address: "token" beside the first unix
  // socket, made 0600.
  const std::string token_file = broker.path("token");
  struct stat st {};
  ASSERT_EQ(::stat(token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ConnectOptions with_token = Named("caller");
  with_token.token_file = token_file;
  absl::StatusOr<std::unique_ptr<Client>> caller =
      Client::Connect(broker.tcp_address(), with_token);
  ASSERT_THAT(caller, IsOk());
  ExpectEchoThrough(**service, **caller);
}

TEST(SocketActivationTest, AddressFlagIsServedBesideTheSystemdSocket) {
  SocketActivationOptions options;
  options.flags = {"--address=unix:{dir}/extra"};
  SocketActivatedBroker broker(options);
  ASSERT_TRUE(broker.started());
  absl::StatusOr<std::unique_ptr<Client>> inherited =
      Client::Connect(broker.unix_address("bus"), Named("inherited"));
  ASSERT_THAT(inherited, IsOk());
  absl::StatusOr<std::unique_ptr<Client>> own =
      Client::Connect(broker.unix_address("extra"), Named("own"));
  ASSERT_THAT(own, IsOk());
  ExpectEchoThrough(**inherited, **own);

  EXPECT_THAT(broker.Stop(SIGTERM, kTimeout), IsOkAndHolds(0));
  EXPECT_TRUE(Exists(broker.path("bus")));     // systemd's
  EXPECT_FALSE(Exists(broker.path("extra")));  // the broker's own
}

TEST(SocketActivationTest, AddressFlagNamingTheSystemdSocketIsRefused) {
  SocketActivationOptions options;
  options.flags = {"--address=unix:{dir}/bus"};
  options.expect_clean_exit = false;
  SocketActivatedBroker broker(options);
  ASSERT_TRUE(broker.started());
  TriggerStart(broker.unix_address());
  EXPECT_THAT(broker.Wait(kTimeout), IsOkAndHolds(1));
  EXPECT_THAT(
      broker.ReadStderr(),
      HasSubstr(absl::StrCat("switchboardd: address ", broker.unix_address(),
                             " is given twice (or given and also "
                             "passed by systemd)")));
}

TEST(SocketActivationTest, DatagramSocketIsRefusedClearly) {
  SocketActivationOptions options;
  options.sockets = {"dgram"};
  options.datagram = true;
  options.expect_clean_exit = false;
  SocketActivatedBroker broker(options);
  ASSERT_TRUE(broker.started());
  // A datagram is what makes systemd-socket-activate start it.
  Fd sender(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sender);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  const std::string path = broker.path("dgram");
  std::memcpy(sun.sun_path, path.data(), path.size());
  ASSERT_EQ(::sendto(sender.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&sun),
                     sizeof sun),
            1);
  EXPECT_THAT(broker.Wait(kTimeout), IsOkAndHolds(1));
  EXPECT_THAT(broker.ReadStderr(),
              HasSubstr("switchboardd: systemd passed fd 3 ('unknown'): not "
                        "a stream socket; the socket unit must use "
                        "ListenStream="));
}

SocketActivationOptions WithNotifySocket(std::vector<std::string> more = {}) {
  SocketActivationOptions options;
  options.environment = {"NOTIFY_SOCKET={dir}/notify"};
  options.environment.insert(options.environment.end(), more.begin(),
                             more.end());
  return options;
}

TEST(NotifyTest, ReportsReadyWithAStatusThatFollowsConnectionsThenStopping) {
  SocketActivatedBroker broker(WithNotifySocket());
  ASSERT_TRUE(broker.started());
  // Bound before the first client: the broker reads NOTIFY_SOCKET at start.
  NotifySocket notify(broker.path("notify"));
  ASSERT_TRUE(notify.ok());
  const std::string serving =
      absl::StrCat("STATUS=Serving on ", broker.unix_address(), "; ");

  absl::StatusOr<std::unique_ptr<Client>> first =
      Client::Connect(broker.unix_address(), Named("first"));
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<std::string> ready = notify.WaitFor("READY=1", kTimeout);
  ASSERT_THAT(ready, IsOk());
  // Ready before it accepted anyone.
  EXPECT_TRUE(HasNotifyLine(*ready, serving + "0 connections")) << *ready;
  EXPECT_THAT(notify.WaitFor(serving + "1 connection", kTimeout), IsOk());

  absl::StatusOr<std::unique_ptr<Client>> second =
      Client::Connect(broker.unix_address(), Named("second"));
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(notify.WaitFor(serving + "2 connections", kTimeout), IsOk());
  second->reset();
  EXPECT_THAT(notify.WaitFor(serving + "1 connection", kTimeout), IsOk());

  EXPECT_THAT(broker.Stop(SIGTERM, kTimeout), IsOkAndHolds(0));
  absl::StatusOr<std::string> stopping = notify.WaitFor("STOPPING=1", kTimeout);
  ASSERT_THAT(stopping, IsOk());
  EXPECT_TRUE(HasNotifyLine(
      *stopping, "STATUS=Shutting down; 1 connection open (SIGTERM)"))
      << *stopping;
}

TEST(NotifyTest, SighupReportsReloadingThenReadyAroundTheReread) {
  SocketActivationOptions options = WithNotifySocket();
  options.flags = {"--activation-dir={dir}"};
  SocketActivatedBroker broker(options);
  ASSERT_TRUE(broker.started());
  NotifySocket notify(broker.path("notify"));
  ASSERT_TRUE(notify.ok());
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(broker.unix_address(), Named("client"));
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(notify.WaitFor("READY=1", kTimeout), IsOk());

  ASSERT_EQ(::kill(broker.pid(), SIGHUP), 0);
  absl::StatusOr<std::string> reloading =
      notify.WaitFor("RELOADING=1", kTimeout);
  ASSERT_THAT(reloading, IsOk());
  EXPECT_TRUE(HasNotifyLine(*reloading, "MONOTONIC_USEC=")) << *reloading;
  EXPECT_TRUE(HasNotifyLine(*reloading,
                            "STATUS=Rereading the activation files (SIGHUP)"))
      << *reloading;
  absl::StatusOr<std::string> ready = notify.WaitFor("READY=1", kTimeout);
  ASSERT_THAT(ready, IsOk());
  EXPECT_TRUE(HasNotifyLine(
      *ready, absl::StrCat("STATUS=Serving on ", broker.unix_address(),
                           "; 1 connection")))
      << *ready;
  EXPECT_THAT(broker.ReadStderr(),
              HasSubstr("reread the activation files: 0 activatable name(s)"));
}

TEST(NotifyTest, PingsTheWatchdogAtHalfItsInterval) {
  SocketActivatedBroker broker(WithNotifySocket({"WATCHDOG_USEC=200000"}));
  ASSERT_TRUE(broker.started());
  NotifySocket notify(broker.path("notify"));
  ASSERT_TRUE(notify.ok());
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(broker.unix_address(), Named("client"));
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(notify.WaitFor("READY=1", kTimeout), IsOk());
  // Pings keep coming while the broker runs, from the loop's timer.
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(notify.WaitFor("WATCHDOG=1", kTimeout), IsOk());
  }
  EXPECT_THAT(broker.ReadStderr(),
              HasSubstr("pinging the systemd watchdog every 100ms"));
}

TEST(NotifyTest, WatchdogMeantForAnotherProcessIsNotPinged) {
  // WATCHDOG_PID names pid 1, not the broker.
  SocketActivatedBroker broker(
      WithNotifySocket({"WATCHDOG_USEC=200000", "WATCHDOG_PID=1"}));
  ASSERT_TRUE(broker.started());
  NotifySocket notify(broker.path("notify"));
  ASSERT_TRUE(notify.ok());
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(broker.unix_address(), Named("client"));
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(notify.WaitFor("READY=1", kTimeout), IsOk());
  // The watchdog is set up before READY=1, so its absence shows by now.
  for (const std::string& message : notify.received()) {
    EXPECT_FALSE(HasNotifyLine(message, "WATCHDOG=1")) << message;
  }
  EXPECT_THAT(broker.ReadStderr(), Not(HasSubstr("pinging the systemd")));
}

TEST(NotifyTest, MalformedWatchdogIntervalIsRefused) {
  SocketActivationOptions options = WithNotifySocket({"WATCHDOG_USEC=soon"});
  options.expect_clean_exit = false;
  SocketActivatedBroker broker(options);
  ASSERT_TRUE(broker.started());
  TriggerStart(broker.unix_address());
  EXPECT_THAT(broker.Wait(kTimeout), IsOkAndHolds(1));
  EXPECT_THAT(broker.ReadStderr(),
              HasSubstr("switchboardd: bad WATCHDOG_USEC or WATCHDOG_PID from "
                        "systemd: "));
}

// Runs the broker the way systemd would, with LISTEN_PID naming it (a shell
// sets it to its own pid, then execs the broker), `environment` exported
// and `redirect` (e.g. "3</dev/null") applied. Its --address lies in a
// fresh folder, so a broker that wrongly starts serving stays hermetic
// (and is killed at the timeout).
absl::StatusOr<testing::ProgramResult> RunWithListenFds(
    const std::string& environment, const std::string& redirect) {
  char dir[] = "/tmp/sbfd-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp");
  const std::string script =
      absl::StrCat("export LISTEN_PID=$$ ", environment, "; exec \"$0\" ",
                   "--address=unix:", dir, "/bus ", redirect);
  absl::StatusOr<testing::ProgramResult> result = testing::RunProgram(
      {"/bin/sh", "-c", script, testing::SwitchboarddPath()}, kTimeout);
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  return result;
}

TEST(InheritedFdTest, MalformedListenFdsIsRefused) {
  absl::StatusOr<testing::ProgramResult> result =
      RunWithListenFds("LISTEN_FDS=three", "");
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->stderr_text,
              HasSubstr("switchboardd: cannot read LISTEN_FDS/LISTEN_PID "
                        "from systemd: "));
}

TEST(InheritedFdTest, FdThatIsNotASocketIsRefused) {
  absl::StatusOr<testing::ProgramResult> result =
      RunWithListenFds("LISTEN_FDS=1 LISTEN_FDNAMES=bus", "3</dev/null");
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->stderr_text,
              HasSubstr("switchboardd: systemd passed fd 3 ('bus'): not a "
                        "socket; the socket unit must use ListenStream="));
}

}  // namespace
}  // namespace switchboard
