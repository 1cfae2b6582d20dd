// SPDX-License-Identifier: MIT
//
// AsyncResults: collects the outcomes of many Client::CallAsync() calls,
// for tests that fire calls and then wait for, count or inspect what came
// back.
//
//   AsyncResults results;
//   client->CallAsync("svc", "M", payload, timeout, results.Callback());
//   ASSERT_TRUE(results.WaitForCount(1, kTimeout));
//   EXPECT_THAT(results.Replies(), ElementsAre(IsOkAndHolds("pong")));
#ifndef SWITCHBOARD_TESTS_TESTING_ASYNC_RESULTS_H_
#define SWITCHBOARD_TESTS_TESTING_ASYNC_RESULTS_H_

#include <cstddef>
#include <string>
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
  // A callback that records the call's outcome; valid while this lives.
  // It keeps a reply's message bytes, not its buffers.
  CallCallback Callback() {
    return [this](absl::StatusOr<Payload> result) {
      absl::MutexLock lock(&mu_);
      if (result.ok()) {
        results_.emplace_back(std::string(result->view()));
      } else {
        results_.emplace_back(result.status());
      }
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
    std::vector<absl::Status> statuses;
    statuses.reserve(results_.size());
    for (const absl::StatusOr<std::string>& result : results_) {
      statuses.push_back(result.status());
    }
    return statuses;
  }
  // The replies' message bytes, or the errors, so far, in the order the
  // calls ended.
  std::vector<absl::StatusOr<std::string>> Replies() {
    absl::MutexLock lock(&mu_);
    return results_;
  }
  // How many ended with `code` so far.
  size_t Count(absl::StatusCode code) {
    absl::MutexLock lock(&mu_);
    size_t count = 0;
    for (const absl::StatusOr<std::string>& result : results_) {
      count += result.status().code() == code;
    }
    return count;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<std::string>> results_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_ASYNC_RESULTS_H_
