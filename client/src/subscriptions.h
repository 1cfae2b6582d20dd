// SPDX-License-Identifier: MIT
//
// Subscriptions: the client's live subscriptions (docs/PROTOCOL.md 5.5),
// keyed by the subscription id the client chose, which MESSAGE frames carry
// as their request id. It hands each message and drop report to the right
// callback, counts them, and keeps Unsubscribe's promise: once Remove()
// returns, no callback of that subscription runs (unless Remove() runs
// inside that very callback). Callbacks run on the thread that calls
// Deliver()/ReportDrop(), the client's dispatch thread, without the lock.
#ifndef SWITCHBOARD_CLIENT_SRC_SUBSCRIPTIONS_H_
#define SWITCHBOARD_CLIENT_SRC_SUBSCRIPTIONS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "switchboard/message.h"

namespace switchboard::client {

class Subscriptions {
 public:
  // A fresh subscription id: never 0, never reused in this object's life.
  uint64_t NextId();

  // Adds a subscription, before the broker confirms it.
  void Add(uint64_t id, std::string pattern, MessageCallback on_message,
           DropCallback on_drop);
  // Records the limits the broker applies (its SubscribeResult): the
  // subscription is confirmed, and restored after a reconnect.
  void SetLimits(uint64_t id, uint32_t max_messages, uint64_t max_bytes,
                 OverflowPolicy policy);
  // The confirmed subscriptions, by id, as a reconnect subscribes them again.
  struct Restorable {
    uint64_t id = 0;
    std::string pattern;
    uint32_t max_messages = 0;
    uint64_t max_bytes = 0;
    OverflowPolicy policy = OverflowPolicy::kDropOldest;
    uint64_t dropped = 0;  // total so far
  };
  std::vector<Restorable> Confirmed() const;
  // Removes a subscription; false if unknown. Waits until no callback of it
  // runs, unless called from within one of them.
  bool Remove(uint64_t id);

  // Runs the subscription's callback; false (and nothing runs) for an
  // unknown or removed subscription.
  bool Deliver(uint64_t id, const Message& message);
  // Runs the subscription's callback once for each message `next` returns,
  // until it returns null or the subscription is removed (then the rest are
  // not asked for): one lookup and one pair of lock round trips for a whole
  // run of messages. False (and `next` is never called) for an unknown or
  // removed subscription.
  bool DeliverEach(uint64_t id, absl::FunctionRef<const Message*()> next);
  // Counts the drops and runs on_drop, if any; false for an unknown id.
  bool ReportDrop(const DropReport& report);
  // Runs `run` as one of the subscription's callbacks (Remove() waits for
  // it, and it does not run once Remove() returned): for work that belongs
  // to a subscription but is not a message, such as a name watch's answer.
  // False (and nothing runs) for an unknown or removed subscription.
  bool RunAsCallback(uint64_t id, absl::FunctionRef<void()> run);

  std::optional<SubscriptionStats> Stats(uint64_t id) const;
  bool empty() const;

 private:
  struct Entry {
    MessageCallback on_message;
    DropCallback on_drop;
    SubscriptionStats stats;  // `received` lives in the counter below
    bool confirmed = false;   // SetLimits() ran
    // Counted without the lock, by the one thread that delivers.
    std::atomic<uint64_t> received{0};
    // Set by Remove(), under the lock: DeliverEach() stops before the next
    // message.
    std::atomic<bool> removed{false};
  };
  // Counts with `count` (under the lock), then runs `run` with the
  // subscription marked running on this thread.
  template <typename Count, typename Run>
  bool RunCallback(uint64_t id, Count count, Run run);

  mutable absl::Mutex mu_;
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Entry>> entries_
      ABSL_GUARDED_BY(mu_);
  // The subscription whose callback runs now (0: none), and on which thread.
  uint64_t running_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread::id running_thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_SUBSCRIPTIONS_H_
