// SPDX-License-Identifier: MIT
//
// The services the tests of the `switchboard` tool talk to, each in its own
// process on a test broker: switchboard_test_echo (tests/testing/
// test_echo.cc, a typed service with a rich schema) and the video example's
// video-server. Also the broker's admin answers those tests wait on
// (switchboard.Broker/ListConnections, docs/PROTOCOL.md 5.6), read through
// the client library.
#ifndef SWITCHBOARD_TESTS_TESTING_CLI_SERVICES_H_
#define SWITCHBOARD_TESTS_TESTING_CLI_SERVICES_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "switchboard/client.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {

// Paths of switchboard_test_echo and of the video example's server.
const char* TestEchoPath();
const char* VideoServerPath();

// Starts switchboard_test_echo serving `name` on `broker` and waits up to
// `timeout` for its "ready" line. Its stderr goes to DIR/NAME.stderr.
absl::StatusOr<ChildProcess> StartTestEcho(const BrokerProcess& broker,
                                           const std::string& name,
                                           absl::Duration timeout);

// Starts video-server on `broker` with 64x48 frames and a 20-frame clip
// "first" at 100 fps, and waits up to `timeout` until it serves
// video.frames (and has published its first clip).
absl::StatusOr<ChildProcess> StartVideoServer(const BrokerProcess& broker,
                                              absl::Duration timeout);

// Calls switchboard.Broker/ListConnections. Errors: those of Client::Call.
absl::StatusOr<v1::ConnectionList> ListConnections(Client& client);

// The connection process `pid` made, in the broker's current list.
// Errors: kNotFound if it has none, or those of ListConnections().
absl::StatusOr<v1::ConnectionInfo> FindConnectionOf(Client& client, pid_t pid);

// Waits up to `timeout` until process `pid` has a connection for which
// `condition` holds, and returns it. Errors: kDeadlineExceeded (with the
// last list seen) if none came in time.
absl::StatusOr<v1::ConnectionInfo> WaitForConnectionOf(
    Client& client, pid_t pid,
    const std::function<bool(const v1::ConnectionInfo&)>& condition,
    absl::Duration timeout);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_CLI_SERVICES_H_
