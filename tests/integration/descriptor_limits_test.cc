// SPDX-License-Identifier: MIT
//
// The broker's descriptor table under attack (docs/SECURITY.md): a broker
// started with the 1024-descriptor limit of a normal shell, against
// receivers that never read while buffers are sent to them, and against
// floods of connections that never say HELLO, from the bus owner's uid over
// Unix and from another uid over TCP. In every case the bystander keeps its
// connection and the owner can still connect.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/service.h"
#include "switchboard/shared_buffer.h"
#include "switchboard/v1/header.pb.h"
#include "tests/testing/async_results.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/broker_status.h"
#include "tests/testing/clients.h"
#include "tests/testing/raw_connection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/unprivileged_run.h"
#include "tests/testing/wait_for.h"
#include "wire/frame.h"

namespace switchboard {
namespace {

using ::switchboard::testing::AsyncResults;
using ::switchboard::testing::BrokerOptions;
using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::kNobody;
using ::switchboard::testing::RawConnection;
using ::switchboard::testing::RunAsUser;
using ::switchboard::testing::StatusIs;
using ::switchboard::testing::TempDir;
using ::switchboard::testing::Transport;
using ::switchboard::testing::WaitFor;
using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(10);
// Long enough for the broker to work through a flood's backlog and answer
// HELLO, also in a sanitizer build on a loaded machine, and far shorter
// than the handshake timeout the flood tests give the broker
// (kFloodHandshakeTimeout): only pushing out silent connections can let
// the owner in within it, as a handshake timeout freeing the table (what
// let an older broker recover now and then) cannot.
constexpr absl::Duration kOwnerConnectTimeout = absl::Seconds(10);
constexpr char kFloodHandshakeTimeout[] = "--handshake-timeout=120s";
// More connections than the 1024-descriptor table can hold.
constexpr int kFloodConnections = 1200;

// A broker with the soft and hard descriptor limit of a normal shell.
BrokerOptions ShellLimits(Transport transport) {
  BrokerOptions options;
  options.transport = transport;
  options.prlimit = {"--nofile=1024:1024"};
  return options;
}

absl::StatusOr<std::unique_ptr<Client>> ConnectOwner(
    const BrokerProcess& broker, const std::string& address) {
  ConnectOptions options = broker.connect_options("owner");
  options.timeout = kOwnerConnectTimeout;
  return Client::Connect(address, options);
}

// A Unix connection that never says HELLO.
Fd ConnectSilently(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address),
                               sizeof address) != 0) {
    return Fd();
  }
  return fd;
}

TEST(ConnectionFloodTest, SilentConnectionsOfTheOwnersUidDoNotLockItOut) {
  BrokerOptions options = ShellLimits(Transport::kUnix);
  options.flags.push_back(kFloodHandshakeTimeout);
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.started());
  std::vector<Fd> flood;
  for (int i = 0; i < kFloodConnections; ++i) {
    Fd fd = ConnectSilently(broker.socket_path());
    ASSERT_TRUE(fd.valid())
        << "connection " << i << ": " << std::strerror(errno);
    flood.push_back(std::move(fd));
  }
  // The flood holds more connections than the broker's table while the
  // owner connects: it gets in, promptly, and works.
  absl::StatusOr<std::unique_ptr<Client>> owner =
      ConnectOwner(broker, broker.unix_address());
  ASSERT_THAT(owner, IsOk());
  EXPECT_THAT((*owner)->Ping(kTimeout), IsOk());
  absl::StatusOr<v1::BrokerStatus> status = testing::GetBrokerStatus(**owner);
  ASSERT_THAT(status, IsOk());
  // Only a few of the flood's connections are still held; the rest were
  // pushed out, and GetStatus says so.
  EXPECT_LT(status->connections(), 100u);
  const v1::ResourceUse& resources = status->resources();
  EXPECT_GE(resources.unauthenticated_evicted(),
            kFloodConnections - resources.max_unauthenticated());
  EXPECT_EQ(resources.descriptor_table(), 1024u);
  ASSERT_EQ(resources.uids_size(), 1);
  EXPECT_EQ(resources.uids(0).uid(), ::getuid());
  EXPECT_EQ(resources.uids(0).connections(), 1u);
}

TEST(ConnectionFloodTest,
     ATokenlessTcpFloodFromAnotherUidDoesNotLockOutTheOwner) {
  BrokerOptions options = ShellLimits(Transport::kTcp);
  options.flags.push_back(kFloodHandshakeTimeout);
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.started());
  const std::string tcp = broker.tcp_address();
  const std::string port = tcp.substr(tcp.rfind(':') + 1);
  // nobody opens the connections with bash's /dev/tcp, says nothing on
  // them, and holds them until told to stop.
  TempDir dir("sb-flood");
  ASSERT_FALSE(dir.path().empty());
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);
  const std::string ready = dir.path() + "/ready";
  const std::string stop = dir.path() + "/stop";
  const std::string script = absl::StrCat(
      "for i in $(seq ", kFloodConnections, "); do exec {fd}<>/dev/tcp/",
      "127.0.0.1/", port, " || exit 3; done; : > ", ready, "; while [ ! -e ",
      stop, " ]; do sleep 0.05; done");
  absl::StatusOr<testing::CliResult> flooded;
  std::thread flooder([&] {
    flooded =
        RunAsUser(kNobody, {"/bin/bash", "-c", script}, absl::Seconds(60));
  });
  const bool flooding = WaitFor(
      [&] { return ::access(ready.c_str(), F_OK) == 0; }, absl::Seconds(30));
  absl::StatusOr<std::unique_ptr<Client>> over_unix =
      ConnectOwner(broker, broker.unix_address());
  absl::StatusOr<std::unique_ptr<Client>> over_tcp =
      ConnectOwner(broker, broker.tcp_address());
  std::ofstream(stop).put('\n');
  flooder.join();

  ASSERT_TRUE(flooding) << "the flood did not start";
  ASSERT_THAT(flooded, IsOk());
  EXPECT_EQ(flooded->exit_code, 0) << flooded->stderr_text;
  ASSERT_THAT(over_unix, IsOk());
  EXPECT_THAT((*over_unix)->Ping(kTimeout), IsOk());
  ASSERT_THAT(over_tcp, IsOk());
  EXPECT_THAT((*over_tcp)->Ping(kTimeout), IsOk());
}

// A connection that claims `name`, takes descriptors, and never reads.
absl::StatusOr<RawConnection> StalledReceiver(const BrokerProcess& broker,
                                              const std::string& name) {
  absl::StatusOr<RawConnection> raw = RawConnection::Connect(broker.address());
  if (!raw.ok()) return raw.status();
  if (absl::StatusOr<v1::Welcome> welcome =
          raw->Handshake("", kTimeout, {"fds"});
      !welcome.ok()) {
    return welcome.status();
  }
  v1::Header claim;
  claim.mutable_register_name()->set_name(name);
  if (absl::Status sent = raw->SendFrame(wire::Kind::kRegisterName, 1, claim);
      !sent.ok()) {
    return sent;
  }
  absl::StatusOr<wire::Frame> reply = raw->ReadFrame(kTimeout);
  if (!reply.ok()) return reply.status();
  return raw;
}

// A payload with `count` sealed 4 KiB buffers.
absl::StatusOr<Payload> WithBuffers(int count) {
  std::vector<SharedBuffer> buffers;
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<SharedBuffer> buffer = SharedBuffer::Create(4096, "flood");
    if (!buffer.ok()) return buffer.status();
    if (absl::Status s = buffer->Seal(SharedBuffer::Sealing::kImmutable);
        !s.ok()) {
      return s;
    }
    buffers.push_back(*std::move(buffer));
  }
  return Payload("b", std::move(buffers));
}

// Which limit the stalled receivers run into first: their uid's
// --max-fds-in-flight-per-uid (the default, three quarters of the total),
// or, with the per-uid quota raised out of the way, the broker's total.
enum class Binding { kUidQuota, kTotal };

class DescriptorsInFlightTest : public ::testing::TestWithParam<Binding> {};

TEST_P(DescriptorsInFlightTest,
       StalledReceiversCannotCostABystanderItsConnection) {
  BrokerOptions options = ShellLimits(Transport::kUnix);
  if (GetParam() == Binding::kTotal) {
    options.flags.push_back("--max-fds-in-flight-per-uid=100000");
  }
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.started());
  std::unique_ptr<Client> service = ConnectOrDie(broker, "service");
  Service ok("test.ok");
  ok.AddMethod(
      "Take",
      [](const CallInfo& call, const Payload&) -> absl::StatusOr<Payload> {
        return Payload(absl::StrCat(call.buffers.size()));
      });
  ASSERT_THAT(service->Serve(std::move(ok)), IsOk());
  std::unique_ptr<Client> bystander = ConnectOrDie(broker, "bystander");
  std::unique_ptr<Client> attacker = ConnectOrDie(broker, "attacker");

  // Eight receivers that never read; a large call fills each one's socket,
  // so what follows stays in the broker, which holds its descriptors.
  constexpr int kStalled = 8;
  constexpr int kCallsEach = 120;
  std::vector<RawConnection> stalled;
  AsyncResults results;
  for (int i = 0; i < kStalled; ++i) {
    const std::string name = absl::StrCat("test.stalled", i);
    absl::StatusOr<RawConnection> receiver = StalledReceiver(broker, name);
    ASSERT_THAT(receiver, IsOk());
    stalled.push_back(*std::move(receiver));
    attacker->CallAsync(name, "Big", Payload(std::string(4 << 20, 'b')),
                        kTimeout, results.Callback());
    for (int call = 0; call < kCallsEach; ++call) {
      absl::StatusOr<Payload> payload = WithBuffers(3);
      ASSERT_THAT(payload, IsOk());
      attacker->CallAsync(name, "Take", *std::move(payload), kTimeout,
                          results.Callback());
    }
  }
  // The broker refused what went past the receivers' quotas and the total
  // for all receivers, and kept the rest: every call has an answer or
  // waits, and at least some were refused for descriptors.
  ASSERT_TRUE(WaitFor(
      [&] {
        return results.Count(absl::StatusCode::kResourceExhausted) >=
               kStalled * (kCallsEach / 2);
      },
      kTimeout))
      << results.Count(absl::StatusCode::kResourceExhausted) << " refused";

  // The bystander sends a buffer to a healthy service: it is answered,
  // or refused for the broker's total, but never disconnected.
  absl::StatusOr<Payload> one = WithBuffers(1);
  ASSERT_THAT(one, IsOk());
  absl::StatusOr<Payload> reply =
      bystander->Call("test.ok", "Take", *std::move(one), kTimeout);
  EXPECT_THAT(reply.status(),
              AnyOf(IsOk(), StatusIs(absl::StatusCode::kResourceExhausted,
                                     HasSubstr("descriptors"))));
  EXPECT_TRUE(bystander->connected());
  EXPECT_THAT(bystander->Ping(kTimeout), IsOk());
  // The limit was reached, and held.
  absl::StatusOr<v1::BrokerStatus> status =
      testing::GetBrokerStatus(*bystander);
  ASSERT_THAT(status, IsOk());
  const v1::ResourceUse& resources = status->resources();
  if (GetParam() == Binding::kTotal) {
    EXPECT_GT(resources.fds_over_limit(), 0u);
    EXPECT_LE(resources.fds_in_flight(), resources.max_fds_in_flight() + 3);
  } else {
    v1::UidUse mine;
    for (const v1::UidUse& use : resources.uids()) {
      if (use.uid() == ::getuid()) mine = use;
    }
    EXPECT_GT(mine.fds_refused(), 0u);
    EXPECT_GT(mine.fds_in_flight(), 0u);
    EXPECT_LE(mine.fds_in_flight(), resources.max_fds_in_flight_per_uid());
    EXPECT_LT(resources.max_fds_in_flight_per_uid(),
              resources.max_fds_in_flight());
  }
  // And a newcomer can connect.
  absl::StatusOr<std::unique_ptr<Client>> newcomer =
      ConnectOwner(broker, broker.unix_address());
  ASSERT_THAT(newcomer, IsOk());

  // Once the stalled receivers are gone, buffers flow again.
  stalled.clear();
  ASSERT_TRUE(results.WaitForCount(kStalled * (kCallsEach + 1), kTimeout));
  absl::StatusOr<Payload> again = WithBuffers(1);
  ASSERT_THAT(again, IsOk());
  absl::StatusOr<Payload> answered =
      bystander->Call("test.ok", "Take", *std::move(again), kTimeout);
  ASSERT_THAT(answered, IsOk());
  EXPECT_EQ(answered->view(), "1");
}

INSTANTIATE_TEST_SUITE_P(
    Limits, DescriptorsInFlightTest,
    ::testing::Values(Binding::kUidQuota, Binding::kTotal),
    [](const ::testing::TestParamInfo<Binding>& param_info) {
      return param_info.param == Binding::kTotal ? "Total" : "UidQuota";
    });

}  // namespace
}  // namespace switchboard
