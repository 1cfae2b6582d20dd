// SPDX-License-Identifier: MIT
//
// OutputAccounts: what the broker holds in its output queues on each uid's
// behalf, and whether it may hold more (docs/ARCHITECTURE.md, "Memory:
// per-uid quotas and the ceiling").
//
// Everything queued for a connection is charged to that connection's uid:
// messages to the subscriber, which chose to subscribe; a call to the
// callee, which chose to serve; a reply to the caller, which chose to call.
// So a uid that does not read pays for it, and a flooding publisher cannot
// spend another uid's quota beyond what that uid's subscriptions accepted.
// Charged: the memory of each queue (OutputQueue::memory(): bytes and
// bookkeeping) and the descriptors it holds for its receiver.
//
// Three limits:
//   - per uid, memory (--max-queued-bytes-per-uid) and descriptors
//     (--max-fds-in-flight-per-uid);
//   - a ceiling on the memory of all queues together, and of the buffers
//     of large frames being read (--max-memory).
//     Approaching it (past kHeavyMark of it), the heaviest uids are
//     refused first: a uid holding at least an even share of what is held
//     gets no more, while lighter ones still do. At the ceiling, nobody.
//
// Sessions report their queue's size after each change (Recharge()), so
// the totals are exact at every step and checks cost a hash lookup.
//
// Single-threaded: the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_SERVER_OUTPUT_ACCOUNTS_H_
#define SWITCHBOARD_DAEMON_SERVER_OUTPUT_ACCOUNTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace switchboard::server {

struct OutputLimits {
  size_t max_memory = size_t{1} << 30;          // all queues together
  size_t max_memory_per_uid = size_t{1} << 30;  // one uid's queues
  size_t max_fds_per_uid = 1024;                // one uid's descriptors

  // The default ceiling for a machine with `physical_bytes` of memory: a
  // quarter of it, at least 256 MiB; the per-uid memory quota defaults to
  // 1 GiB, lowered to the ceiling.
  static OutputLimits ForMachine(size_t physical_bytes);
};

// One uid's charges and what was refused it.
struct UidOutput {
  size_t memory = 0;
  size_t fds = 0;
  uint64_t refused_memory = 0;   // at its quota
  uint64_t refused_fds = 0;      // at its quota
  uint64_t refused_ceiling = 0;  // near or at the broker's ceiling
};

class OutputAccounts {
 public:
  // The fraction of the ceiling past which the heaviest uids are refused.
  static constexpr size_t kHeavyMarkPercent = 75;

  explicit OutputAccounts(const OutputLimits& limits) : limits_(limits) {}

  // `uid`'s queues went from holding (`memory_before`, `fds_before`) to
  // (`memory_after`, `fds_after`).
  void Recharge(uint32_t uid, size_t memory_before, size_t fds_before,
                size_t memory_after, size_t fds_after);

  // The buffers of large frames being read (their senders' partial
  // frames) went from `before` to `after` bytes. They count against the
  // ceiling, not against a uid: see OverCeiling().
  void RechargeInput(size_t before, size_t after);
  // Whether output and frames being read together hold more than the
  // ceiling. A connection whose partial frame grew past it is closed
  // (Session::ReadInput()): the frame could not be delivered anyway.
  bool OverCeiling() const { return memory_ > limits_.max_memory; }

  // Why `bytes` more of output and `fds` more descriptors may not be queued
  // for a connection of `uid`: kResourceExhausted naming the quota or the
  // ceiling and its flag, counted as a refusal. OK if they may.
  absl::Status Check(uint32_t uid, size_t bytes, size_t fds);

  // Whether `uid` holds its memory quota, or the broker its ceiling: then
  // a connection of the uid with output waiting is not read until it
  // drains (Session::UpdateInterest()), which bounds what the broker's own
  // answers (PING replies, errors, admin replies; never refused) can make
  // it hold for a uid.
  bool Full(uint32_t uid) const;

  const OutputLimits& limits() const { return limits_; }
  // Output and frames being read, and frames being read alone.
  size_t memory() const { return memory_; }
  size_t input_memory() const { return input_memory_; }
  size_t fds() const { return fds_; }
  uint64_t refused() const { return refused_; }
  // Every uid charged now or refused ever, lowest uid first.
  std::vector<std::pair<uint32_t, UidOutput>> Uids() const;
  // `uid`'s entry (zeros if it has none).
  UidOutput Of(uint32_t uid) const;

 private:
  OutputLimits limits_;
  size_t memory_ = 0;         // output and input
  size_t output_memory_ = 0;  // what uids hold
  size_t input_memory_ = 0;
  size_t fds_ = 0;
  // Uids holding memory now: an even share of memory_ is memory_ / this.
  size_t uids_holding_memory_ = 0;
  uint64_t refused_ = 0;
  // Entries stay once made (a uid refused once keeps its counters); uids
  // are few, bounded by the connections' uids.
  absl::flat_hash_map<uint32_t, UidOutput> uids_;
};

}  // namespace switchboard::server

#endif  // SWITCHBOARD_DAEMON_SERVER_OUTPUT_ACCOUNTS_H_
