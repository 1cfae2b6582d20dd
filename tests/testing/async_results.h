// SPDX-License-Identifier: MIT
//
// AsyncResults: collects the outcomes of many Client::CallAsync() calls,
// for tests that fire calls and then wait for, count or inspect what came
// back.
//
//   AsyncResults results;
//   client->CallAsync("svc", "M", payload, timeout, results.Callback());
//   ASSERT_TRUE(results.WaitForCount(1, kTimeout));
#ifndef SWITCHBOARD_TESTS_TESTING_ASYNC_RESULTS_H_
#define SWITCHBOARD_TESTS_TESTING_ASYNC_RESULTS_H_

#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "switchboard/client.h"
#include "tests/testing/wait_for.h"

namespace switchboard::testing {

class AsyncResults {
 public:
  // A callback that records the call's status; valid while this lives.
  CallCallback Callback() {
    return [this](absl::StatusOr<Payload> result) {
      absl::MutexLock lock(&mu_);
      results_.push_back(result.status());
    };
  }
  // Whether `count` calls have ended within `timeout`.
  bool WaitForCount(size_t count, absl::Duration timeout) {
    return WaitFor(
        [&] {
          absl::MutexLock lock(&mu_);
          return results_.size() >= count;
        },
        timeout);
  }
  // The statuses so far, in the order the calls ended.
  std::vector<absl::Status> Results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }
  // How many ended with `code` so far.
  size_t Count(absl::StatusCode code) {
    absl::MutexLock lock(&mu_);
    size_t count = 0;
    for (const absl::Status& status : results_) count += status.code() == code;
    return count;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Status> results_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_ASYNC_RESULTS_H_
