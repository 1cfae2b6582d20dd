// SPDX-License-Identifier: MIT
//
// What the broker says about itself: switchboard.Broker/GetStatus
// (docs/PROTOCOL.md 5.6) called through the client library, and the broker
// process's resident memory as the kernel reports it, for tests that check
// counters, per-subscription drops and memory bounds.
#ifndef SWITCHBOARD_TESTS_TESTING_BROKER_STATUS_H_
#define SWITCHBOARD_TESTS_TESTING_BROKER_STATUS_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "switchboard/client.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::testing {

// Calls switchboard.Broker/GetStatus. Errors: those of Client::Call.
absl::StatusOr<v1::BrokerStatus> GetBrokerStatus(Client& client);

// The subscription `subscription_id` of connection `connection_id` in
// `status`. Errors: kNotFound if the status does not list it.
absl::StatusOr<v1::SubscriptionStatus> FindSubscription(
    const v1::BrokerStatus& status, uint64_t connection_id,
    uint64_t subscription_id);

// VmRSS of process `pid` in bytes (/proc/PID/status). Errors: kNotFound if
// the process is gone; kInternal if the file has no VmRSS line.
absl::StatusOr<uint64_t> ResidentBytes(pid_t pid);

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_BROKER_STATUS_H_
