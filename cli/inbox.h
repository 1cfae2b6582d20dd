// SPDX-License-Identifier: MIT
//
// Hands what the client library's dispatch thread receives (messages, drop
// reports, name changes) to the command's main thread, which may block, ask
// the broker for schemas and print without holding up the dispatch thread.
// Also carries Ctrl-C (from the signal watcher) and notices a lost broker.
#ifndef SWITCHBOARD_CLI_INBOX_H_
#define SWITCHBOARD_CLI_INBOX_H_

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "switchboard/client.h"

namespace switchboard::cli {

// Why Inbox::Next() returned without an item.
enum class InboxEnd {
  kInterrupted,   // Interrupt() was called (a signal)
  kDeadline,      // the deadline passed
  kDisconnected,  // the client lost its connection to the broker
};

// Thread-safe.
template <typename T>
class Inbox {
 public:
  void Push(T item) {
    absl::MutexLock lock(&mu_);
    items_.push_back(std::move(item));
  }

  void Interrupt() {
    absl::MutexLock lock(&mu_);
    interrupted_ = true;
  }

  // The next item, or why there is none. Items already queued come before
  // the deadline and the disconnection, an interrupt before everything.
  // The client has no callback for a lost connection, so its state is looked
  // at every kConnectionCheck while waiting.
  struct Next {
    std::optional<T> item;
    InboxEnd end = InboxEnd::kDeadline;
  };
  Next Take(absl::Time deadline, const Client& client) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return interrupted_ || !items_.empty();
    };
    while (true) {
      const absl::Time wake =
          std::min(deadline, absl::Now() + kConnectionCheck);
      mu_.AwaitWithDeadline(absl::Condition(&ready), wake);
      if (interrupted_) return {std::nullopt, InboxEnd::kInterrupted};
      if (!items_.empty()) {
        Next next{std::move(items_.front()), InboxEnd::kDeadline};
        items_.pop_front();
        return next;
      }
      if (!client.connected()) return {std::nullopt, InboxEnd::kDisconnected};
      if (absl::Now() >= deadline) return {std::nullopt, InboxEnd::kDeadline};
    }
  }

 private:
  static constexpr absl::Duration kConnectionCheck = absl::Milliseconds(200);

  absl::Mutex mu_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_INBOX_H_
