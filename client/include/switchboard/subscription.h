// SPDX-License-Identifier: MIT
//
// Subscription: the handle Client::Subscribe() and Client::WatchName()
// return. It owns the subscription: when the handle is destroyed (or
// assigned another), the subscription ends, as Client::Unsubscribe() would
// end it. Move it to where it should live as long as its messages matter;
// Release() detaches it for code that manages subscription ids itself.
//
//   absl::StatusOr<switchboard::Subscription> events = client->Subscribe(
//       "video.events.>", [](const switchboard::Message& m) { ... });
//   if (!events.ok()) return events.status();
//   clips_ = *std::move(events);  // messages arrive until clips_ goes
//
// A handle does not keep its Client alive, and may outlive it: the
// subscription ended with the Client's connection, so dropping the handle
// then does nothing.
//
// Threads. A handle is not shared: use one from one thread at a time, as
// any value. Any thread may drop one, including the dispatch thread inside
// a handler or callback, and inside the subscription's own callback, which
// then is not called again. Elsewhere, ending a subscription waits until its
// callback, if it runs now on the dispatch thread, has returned, and the
// callback does not run after that; ending one also waits for the broker's
// answer (a round trip).
#ifndef SWITCHBOARD_SUBSCRIPTION_H_
#define SWITCHBOARD_SUBSCRIPTION_H_

#include <cstdint>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "switchboard/export.h"
#include "switchboard/message.h"

namespace switchboard {

class Client;
namespace client {
class HandleLink;  // how a handle reaches its Client (client/src)
}  // namespace client

// [[nodiscard]] here: it does not combine with SWITCHBOARD_EXPORT's GNU
// attribute syntax on one declaration.
class [[nodiscard]] Subscription;

class SWITCHBOARD_EXPORT Subscription {
 public:
  // An empty handle: holds no subscription.
  Subscription() = default;
  // Ends the subscription it holds, if any; errors are ignored (the
  // subscription ends with the connection in any case). Call Unsubscribe()
  // to see them.
  ~Subscription();
  // The moved-from handle is empty. Assignment ends the subscription this
  // handle held before it takes `other`'s.
  Subscription(Subscription&& other) noexcept;
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // The subscription's id (as DropReport::subscription gives it); 0 when
  // empty.
  uint64_t id() const { return id_; }
  // Whether the handle holds a subscription (not whether it is still live:
  // a lost connection ends it too).
  explicit operator bool() const { return id_ != 0; }

  // Ends the subscription now and returns what ending it met; the handle is
  // empty afterwards, whatever the result. Errors: kFailedPrecondition if
  // the handle is empty; kCancelled if the Client was destroyed (the
  // subscription ended with it); those of Client::Unsubscribe().
  absl::Status Unsubscribe();

  // Detaches the subscription from the handle, which becomes empty, and
  // returns its id (0 if empty). The subscription then lives until
  // Client::Unsubscribe(id) or until the Client closes.
  uint64_t Release();

  // The subscription's counters (Client::GetSubscriptionStats()). Errors:
  // kNotFound unless the subscription is live (an empty handle, a
  // destroyed Client, a subscription ended by Client::Unsubscribe()).
  absl::StatusOr<SubscriptionStats> stats() const;

 private:
  friend class Client;
  Subscription(std::shared_ptr<client::HandleLink> link, uint64_t id)
      : link_(std::move(link)), id_(id) {}

  // Ends the held subscription, leaving the handle empty.
  absl::Status End();

  std::shared_ptr<client::HandleLink> link_;  // null when empty
  uint64_t id_ = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SUBSCRIPTION_H_
