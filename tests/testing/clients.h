// SPDX-License-Identifier: MIT
//
// Client-library shortcuts for integration tests: connect to a test broker
// with the right address and token, and print Payloads readably in
// GoogleTest failure messages.
//
//   std::unique_ptr<Client> caller = ConnectOrDie(broker_, "caller");
#ifndef SWITCHBOARD_TESTS_TESTING_CLIENTS_H_
#define SWITCHBOARD_TESTS_TESTING_CLIENTS_H_

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "switchboard/client.h"
#include "switchboard/payload.h"
#include "tests/testing/broker_process.h"

namespace switchboard {

// GoogleTest printer: a Payload prints as its bytes (escaped, and cut after
// 200 bytes) and its size.
void PrintTo(const Payload& payload, std::ostream* out);
// GoogleTest printer: "kOwner" or "kQueued".
void PrintTo(NameState state, std::ostream* out);

namespace testing {

// Client::Connect(broker.address(), broker.connect_options(client_name)).
absl::StatusOr<std::unique_ptr<Client>> Connect(
    const BrokerProcess& broker, const std::string& client_name = "test");

// Connect(), or abort the test binary with the error and the broker's
// stderr. Under ctest every test runs in its own process, so this fails
// only the test that called it.
std::unique_ptr<Client> ConnectOrDie(const BrokerProcess& broker,
                                     const std::string& client_name = "test");

}  // namespace testing
}  // namespace switchboard

#endif  // SWITCHBOARD_TESTS_TESTING_CLIENTS_H_
