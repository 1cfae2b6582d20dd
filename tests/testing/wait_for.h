// SPDX-License-Identifier: MIT
//
// WaitFor: the test kit's only way to wait for something to happen. Tests
// never sleep for a fixed time; they poll a condition until a deadline.
//
//   ASSERT_TRUE(WaitFor([&] { return !client->connected(); },
//   absl::Seconds(5)));
#ifndef SWITCHBOARD_TESTS_TESTING_WAIT_FOR_H_
#define SWITCHBOARD_TESTS_TESTING_WAIT_FOR_H_

#include <functional>

#include "absl/time/time.h"

namespace switchboard::testing {

// Calls `condition` until it returns true or `timeout` has passed, waiting a
// little longer between tries (1 ms at first, at most 10 ms). Returns whether
// the condition became true. Blocks the calling thread; `condition` runs on
// it.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_WAIT_FOR_H_
