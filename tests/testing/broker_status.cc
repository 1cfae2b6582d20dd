// SPDX-License-Identifier: MIT
#include "tests/testing/broker_status.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {

absl::StatusOr<v1::BrokerStatus> GetBrokerStatus(Client& client) {
  return client.Call<v1::BrokerStatus>("switchboard.Broker", "GetStatus",
                                       v1::GetStatusRequest(),
                                       absl::Seconds(20));
}

absl::StatusOr<v1::SubscriptionStatus> FindSubscription(
    const v1::BrokerStatus& status, uint64_t connection_id,
    uint64_t subscription_id) {
  for (const v1::SubscriptionStatus& subscription : status.subscriptions()) {
    if (subscription.connection_id() == connection_id &&
        subscription.subscription_id() == subscription_id) {
      return subscription;
    }
  }
  return absl::NotFoundError(absl::StrCat("GetStatus lists no subscription ",
                                          subscription_id,
                                          " of :", connection_id));
}

absl::StatusOr<uint64_t> ResidentBytes(pid_t pid) {
  absl::StatusOr<std::string> text =
      ReadFileToString(absl::StrCat("/proc/", pid, "/status"));
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (!absl::ConsumePrefix(&line, "VmRSS:")) continue;
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumeSuffix(&line, " kB")) break;
    uint64_t kib = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kib)) break;
    return kib * 1024;
  }
  return absl::InternalError(
      absl::StrCat("/proc/", pid, "/status has no readable VmRSS line"));
}

}  // namespace switchboard::testing
