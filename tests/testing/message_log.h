// SPDX-License-Identifier: MIT
//
// MessageLog: records what one subscription receives through the client
// library, messages and drop reports in the order the library handed them
// over, so a test can check ordering, gaps and when a drop report came.
// Optionally holds the dispatch thread in the first message's callback
// until Release(), which stalls the subscriber the way a slow application
// would: the library stops reading and the broker's queue fills.
//
// The callbacks share the log's state, so a subscription may outlive the
// MessageLog (what arrives then is recorded nowhere); destroying the log
// releases a held callback.
//
//   MessageLog log;
//   SubscribeOptions options = log.Options();
//   absl::StatusOr<Subscription> subscription =
//       client->Subscribe("a.>", log.OnMessage(), options);
//   ASSERT_THAT(subscription, IsOk());  // keep it: dropping it unsubscribes
//   ASSERT_TRUE(log.WaitForMessages(3, kTimeout));
//
// A held callback keeps Subscription::Unsubscribe() (and so the handle's
// destructor) waiting: release the log before the handle goes, e.g. with
// an absl::Cleanup declared after the handle.
#ifndef SWITCHBOARD_TESTS_TESTING_MESSAGE_LOG_H_
#define SWITCHBOARD_TESTS_TESTING_MESSAGE_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "switchboard/message.h"

namespace switchboard::testing {

class MessageLog {
 public:
  // One thing the subscription was told: a message, or a drop report.
  struct Entry {
    bool dropped = false;
    Message message;  // when !dropped
    DropReport drop;  // when dropped
  };

  // With `hold_first`, the first message's callback blocks the dispatch
  // thread until Release() (or, so a failing test cannot hang, 60 s).
  explicit MessageLog(bool hold_first = false);
  MessageLog(const MessageLog&) = delete;
  MessageLog& operator=(const MessageLog&) = delete;
  ~MessageLog() { Release(); }

  // Callbacks for Client::Subscribe.
  MessageCallback OnMessage();
  DropCallback OnDrop();
  // SubscribeOptions with on_drop set to OnDrop().
  SubscribeOptions Options(uint32_t max_messages = 0,
                           OverflowPolicy policy = OverflowPolicy::kDropOldest,
                           uint64_t max_bytes = 0);

  // Lets the held first callback return.
  void Release();
  // Whether the first message's callback is running (and held).
  bool holding() const;

  size_t message_count() const;
  // Sum of the drop reports' counts.
  uint64_t dropped() const;
  std::vector<Message> Messages() const;
  std::vector<Entry> Entries() const;
  // The payloads of the messages, as strings, in order.
  std::vector<std::string> Payloads() const;

  // Waits until at least `count` messages arrived.
  bool WaitForMessages(size_t count, absl::Duration timeout) const;

 private:
  struct State {
    explicit State(bool hold) : hold_first(hold) {}
    const bool hold_first;
    absl::Notification released;
    mutable absl::Mutex mu;
    std::vector<Entry> entries ABSL_GUARDED_BY(mu);
    size_t messages ABSL_GUARDED_BY(mu) = 0;
    uint64_t dropped ABSL_GUARDED_BY(mu) = 0;
    bool holding ABSL_GUARDED_BY(mu) = false;
  };

  std::shared_ptr<State> state_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_MESSAGE_LOG_H_
