// SPDX-License-Identifier: MIT
#include "tests/testing/cli_services.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/wait_for.h"

namespace switchboard::testing {
namespace {

// Reads lines from `process` until one contains `text`.
absl::Status WaitForLine(ChildProcess& process, absl::string_view text,
                         absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::string> line = process.ReadLine(deadline - absl::Now());
    if (!line.ok()) {
      return absl::Status(line.status().code(),
                          absl::StrCat("waiting for \"", text,
                                       "\": ", line.status().message()));
    }
    if (absl::StrContains(*line, text)) return absl::OkStatus();
  }
}

}  // namespace

const char* TestEchoPath() { return SWITCHBOARD_TEST_ECHO_PATH; }
const char* VideoServerPath() { return SWITCHBOARD_VIDEO_SERVER_PATH; }

absl::StatusOr<ChildProcess> StartTestEcho(const BrokerProcess& broker,
                                           const std::string& name,
                                           absl::Duration timeout) {
  absl::StatusOr<ChildProcess> echo = ChildProcess::Start(
      {TestEchoPath(), absl::StrCat("--address=", broker.address()),
       absl::StrCat("--service=", name)},
      absl::StrCat(broker.dir(), "/", name, ".stderr"));
  if (!echo.ok()) return echo.status();
  if (absl::Status ready = WaitForLine(*echo, "ready", timeout); !ready.ok()) {
    return ready;
  }
  return echo;
}

absl::StatusOr<ChildProcess> StartVideoServer(const BrokerProcess& broker,
                                              absl::Duration timeout) {
  absl::StatusOr<ChildProcess> server = ChildProcess::Start(
      {VideoServerPath(), absl::StrCat("--address=", broker.address()),
       "--width=64", "--height=48", "--clip=first", "--clip-frames=20",
       "--fps=100"},
      absl::StrCat(broker.dir(), "/video-server.stderr"));
  if (!server.ok()) return server.status();
  if (absl::Status ready =
          WaitForLine(*server, "video-server: serving video.frames", timeout);
      !ready.ok()) {
    return ready;
  }
  return server;
}

absl::StatusOr<v1::ConnectionList> ListConnections(Client& client) {
  return client.Call<v1::ConnectionList>(
      "switchboard.Broker", "ListConnections", v1::ListConnectionsRequest());
}

absl::StatusOr<v1::ConnectionInfo> FindConnectionOf(Client& client, pid_t pid) {
  absl::StatusOr<v1::ConnectionList> list = ListConnections(client);
  if (!list.ok()) return list.status();
  for (const v1::ConnectionInfo& connection : list->connections()) {
    if (connection.pid() == static_cast<uint32_t>(pid)) return connection;
  }
  return absl::NotFoundError(absl::StrCat("no connection of pid ", pid, " in ",
                                          list->ShortDebugString()));
}

absl::StatusOr<v1::ConnectionInfo> WaitForConnectionOf(
    Client& client, pid_t pid,
    const std::function<bool(const v1::ConnectionInfo&)>& condition,
    absl::Duration timeout) {
  absl::StatusOr<v1::ConnectionInfo> found =
      absl::NotFoundError("not looked yet");
  const bool came = WaitFor(
      [&] {
        found = FindConnectionOf(client, pid);
        return found.ok() && condition(*found);
      },
      timeout);
  if (came) return found;
  return absl::DeadlineExceededError(absl::StrCat(
      "process ", pid, " has no such connection after ",
      absl::FormatDuration(timeout), "; last seen: ",
      found.ok() ? found->ShortDebugString() : found.status().ToString()));
}

}  // namespace switchboard::testing
