// SPDX-License-Identifier: MIT
#include "daemon/server/output_accounts.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard::server {

OutputLimits OutputLimits::ForMachine(size_t physical_bytes) {
  OutputLimits limits;
  limits.max_memory = std::max<size_t>(physical_bytes / 4, size_t{256} << 20);
  limits.max_memory_per_uid =
      std::min<size_t>(size_t{1} << 30, limits.max_memory);
  return limits;
}

void OutputAccounts::Recharge(uint32_t uid, size_t memory_before,
                              size_t fds_before, size_t memory_after,
                              size_t fds_after) {
  if (memory_before == memory_after && fds_before == fds_after) return;
  UidOutput& entry = uids_[uid];
  if (entry.memory == 0 && memory_after > memory_before) {
    ++uids_holding_memory_;
  }
  entry.memory = entry.memory - memory_before + memory_after;
  entry.fds = entry.fds - fds_before + fds_after;
  if (entry.memory == 0 && memory_before > memory_after) {
    --uids_holding_memory_;
  }
  memory_ = memory_ - memory_before + memory_after;
  output_memory_ = output_memory_ - memory_before + memory_after;
  fds_ = fds_ - fds_before + fds_after;
}

void OutputAccounts::RechargeInput(size_t before, size_t after) {
  memory_ = memory_ - before + after;
  input_memory_ = input_memory_ - before + after;
}

absl::Status OutputAccounts::Check(uint32_t uid, size_t bytes, size_t fds) {
  auto it = uids_.find(uid);
  const size_t held = it == uids_.end() ? 0 : it->second.memory;
  const size_t held_fds = it == uids_.end() ? 0 : it->second.fds;
  if (bytes > 0 && held + bytes > limits_.max_memory_per_uid) {
    ++refused_;
    ++uids_[uid].refused_memory;
    return absl::ResourceExhaustedError(absl::StrCat(
        "the connections of uid ", uid, " hold ", held,
        " bytes of output they have not read, their quota is ",
        limits_.max_memory_per_uid, " (--max-queued-bytes-per-uid)"));
  }
  if (fds > 0 && held_fds + fds > limits_.max_fds_per_uid) {
    ++refused_;
    ++uids_[uid].refused_fds;
    return absl::ResourceExhaustedError(absl::StrCat(
        "the connections of uid ", uid, " hold ", held_fds,
        " descriptors they have not received, their quota is ",
        limits_.max_fds_per_uid, " (--max-fds-in-flight-per-uid)"));
  }
  if (bytes == 0) return absl::OkStatus();
  const size_t after = memory_ + bytes;
  const size_t mark = limits_.max_memory / 100 * kHeavyMarkPercent;
  const bool at_ceiling = after > limits_.max_memory;
  // An even share of what is held; held * holders >= memory_ says "at
  // least that much" without dividing.
  const bool heavy = held > 0 && held * uids_holding_memory_ >= output_memory_;
  if (at_ceiling || (after > mark && heavy)) {
    ++refused_;
    ++uids_[uid].refused_ceiling;
    return absl::ResourceExhaustedError(
        absl::StrCat("the broker's output queues hold ", memory_, " bytes, ",
                     at_ceiling ? "its ceiling is " : "near its ceiling of ",
                     limits_.max_memory, " (--max-memory)",
                     at_ceiling ? ""
                                : absl::StrCat("; uid ", uid, " holds ", held,
                                               ", one of the largest shares")));
  }
  return absl::OkStatus();
}

bool OutputAccounts::Full(uint32_t uid) const {
  if (memory_ >= limits_.max_memory) return true;
  auto it = uids_.find(uid);
  return it != uids_.end() && it->second.memory >= limits_.max_memory_per_uid;
}

std::vector<std::pair<uint32_t, UidOutput>> OutputAccounts::Uids() const {
  std::vector<std::pair<uint32_t, UidOutput>> out(uids_.begin(), uids_.end());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

UidOutput OutputAccounts::Of(uint32_t uid) const {
  auto it = uids_.find(uid);
  return it == uids_.end() ? UidOutput() : it->second;
}

}  // namespace switchboard::server
