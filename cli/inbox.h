// SPDX-License-Identifier: MIT
//
// Hands what the client library's dispatch thread receives (messages, drop
// reports, name changes) to the command's main thread, which may block, ask
// the broker for schemas and print without holding up the dispatch thread.
// Also carries Ctrl-C (from the signal watcher) and notices a lost broker.
#ifndef SWITCHBOARD_CLI_INBOX_H_
#define SWITCHBOARD_CLI_INBOX_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace switchboard::cli {

// Why Inbox::Next() returned without an item.
enum class InboxEnd {
  kInterrupted,   // Interrupt() was called (a signal)
  kDeadline,      // the deadline passed
  kDisconnected,  // the client lost its connection to the broker
};

// Thread-safe. Holds at most `capacity` items: the dispatch thread must
// never wait for the main thread (which may be waiting for a reply that the
// dispatch thread reads), so an item that does not fit is dropped and
// counted, and the count comes with the next item taken.
template <typename T>
class Inbox {
 public:
  explicit Inbox(size_t capacity = 4096) : capacity_(capacity) {}

  void Push(T item) {
    absl::MutexLock lock(&mu_);
    if (items_.size() >= capacity_) {
      ++dropped_;
      return;
    }
    items_.push_back(std::move(item));
  }

  void Interrupt() {
    absl::MutexLock lock(&mu_);
    interrupted_ = true;
  }

  // The next item, or why there is none. Items already queued come before
  // the deadline and the disconnection, an interrupt before everything.
  // The client has no callback for a lost connection, so `connected` (for
  // example Client::connected) is asked every kConnectionCheck while
  // waiting.
  struct Next {
    std::optional<T> item;
    InboxEnd end = InboxEnd::kDeadline;
    uint64_t dropped_before = 0;  // items dropped since the last Take()
  };
  Next Take(absl::Time deadline, const std::function<bool()>& connected) {
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
        Next next{std::move(items_.front()), InboxEnd::kDeadline, dropped_};
        items_.pop_front();
        dropped_ = 0;
        return next;
      }
      if (!connected()) return {std::nullopt, InboxEnd::kDisconnected};
      if (absl::Now() >= deadline) return {std::nullopt, InboxEnd::kDeadline};
    }
  }

 private:
  static constexpr absl::Duration kConnectionCheck = absl::Milliseconds(200);

  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<T> items_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_INBOX_H_
