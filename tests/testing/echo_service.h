// SPDX-License-Identifier: MIT
//
// EchoService: a service for integration tests that need something to
// call, serve again after a restart, or stream from. Its methods answer at
// once, with no schema:
//
//   Echo   answers with the request's bytes
//   Count  streams "0", "1", "2", then ends OK
//   Ticks  streams "0", "1", ... until the stream is over (the caller
//          went, or the broker did), and ends with that error
//
//   ASSERT_THAT(service->Serve(EchoService("test.echo")), IsOk());
//   EXPECT_THAT(caller->Call("test.echo", "Echo", "ping", kTimeout),
//               IsOkAndHolds("ping"));
#ifndef SWITCHBOARD_TESTS_TESTING_ECHO_SERVICE_H_
#define SWITCHBOARD_TESTS_TESTING_ECHO_SERVICE_H_

#include <string>

#include "switchboard/service.h"

namespace switchboard::testing {

Service EchoService(const std::string& name);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_ECHO_SERVICE_H_
