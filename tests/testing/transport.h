// SPDX-License-Identifier: MIT
//
// Which listeners a test broker opens and which one its clients use. The
// integration suites are parameterized over Transport, so the same test runs
// over a Unix socket and over loopback TCP with the token handshake.
#ifndef SWITCHBOARD_TESTS_TESTING_TRANSPORT_H_
#define SWITCHBOARD_TESTS_TESTING_TRANSPORT_H_

#include <ostream>
#include <string>

#include "gtest/gtest.h"

namespace switchboard::testing {

enum class Transport {
  kUnix,  // the broker listens on unix:DIR/bus; clients use it
  kTcp,   // the broker also listens on tcp:127.0.0.1:0; clients use that
};

// "Unix" or "Tcp": usable as a test name suffix.
const char* TransportName(Transport transport);

// Lets GoogleTest print a Transport parameter by name.
void PrintTo(Transport transport, std::ostream* out);

// Test name generator for INSTANTIATE_TEST_SUITE_P:
//   INSTANTIATE_TEST_SUITE_P(AllTransports, CallTest,
//                            ::testing::Values(Transport::kUnix,
//                                              Transport::kTcp),
//                            TransportTestName);
std::string TransportTestName(const ::testing::TestParamInfo<Transport>& info);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_TRANSPORT_H_
