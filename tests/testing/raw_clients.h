// SPDX-License-Identifier: MIT
//
// ConnectRawCallee: a RawConnection that has shaken hands and owns a
// service name, and then reads nothing unless the test asks. Calls to the
// name reach it as raw frames, so a test can watch what the broker
// forwards (a CALL, a CANCEL), answer late or never, or stop reading to
// fill its queue.
//
//   absl::StatusOr<RawConnection> callee = ConnectRawCallee(broker_,
//   "test.raw"); ASSERT_THAT(callee, IsOk()); absl::StatusOr<wire::Frame> call
//   = callee->ReadFrame(kTimeout);
#ifndef SWITCHBOARD_TESTS_TESTING_RAW_CLIENTS_H_
#define SWITCHBOARD_TESTS_TESTING_RAW_CLIENTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/raw_connection.h"

namespace switchboard::testing {

// Connects to `broker` and shakes hands. Errors: those of
// RawConnection::Connect and Handshake, and of reading the token.
absl::StatusOr<RawConnection> ConnectRaw(const BrokerProcess& broker);

// ConnectRaw(), then claims `name` and waits up to `timeout` for the
// broker's answer. Errors: those of connecting and of
// the handshake; kInternal if the broker did not grant the name.
absl::StatusOr<RawConnection> ConnectRawCallee(
    const BrokerProcess& broker, const std::string& name,
    absl::Duration timeout = absl::Seconds(20));

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_RAW_CLIENTS_H_
