// SPDX-License-Identifier: MIT
//
// BrokerProcess: the switchboardd the bench measures, started once per run on
// a socket in a fresh temporary folder, and stopped with SIGTERM at the end.
#ifndef SWITCHBOARD_BENCH_BROKER_H_
#define SWITCHBOARD_BENCH_BROKER_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/child_process.h"

namespace switchboard::bench {

// Where switchboardd is: `flag` if not empty, else beside the bench as in the
// build tree (<dir>/../daemon/switchboardd) or an installed layout
// (<dir>/switchboardd), <dir> being the folder of `self_path`.
// Errors: kNotFound naming the places tried.
absl::StatusOr<std::string> FindBroker(absl::string_view flag,
                                       absl::string_view self_path);

class BrokerProcess {
 public:
  // Creates the folder, starts `path` listening there, and waits until it
  // prints its address. Errors: kUnavailable if it exits first,
  // kDeadlineExceeded if it does not get ready, kCancelled if interrupted,
  // errno failures as ErrnoToStatus.
  static absl::StatusOr<std::unique_ptr<BrokerProcess>> Start(
      const std::string& path);

  // Kills the broker if still running, then removes the folder.
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // "unix:/tmp/switchboard-bench-XXXXXX/bus", as the broker printed it.
  const std::string& address() const { return address_; }

  // OK while the broker runs; kUnavailable saying how it ended otherwise.
  absl::Status CheckRunning();

  // SIGTERM, then waits for a clean exit. Errors: kInternal if it had
  // already ended, or ended with anything but exit 0 (the contract);
  // kCancelled if interrupted.
  absl::Status Stop();

 private:
  explicit BrokerProcess(std::string folder) : folder_(std::move(folder)) {}

  std::string folder_;
  std::string address_;
  std::optional<ChildProcess> process_;
};

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_BROKER_H_
