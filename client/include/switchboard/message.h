// SPDX-License-Identifier: MIT
//
// Topics: publish a message on a topic, subscribe to the topics a pattern
// matches (docs/PROTOCOL.md 5.5).
//
//   absl::StatusOr<switchboard::Subscription> events = client->Subscribe(
//       "video.events.>", [](const switchboard::Message& m) {
//         absl::StatusOr<ClipLoaded> clip = m.As<ClipLoaded>();
//         ...
//       });  // messages arrive while the handle lives (subscription.h)
//   client->Publish("video.events.clip_loaded", clip);
//
// Topics are dot-separated tokens of A-Z a-z 0-9 _ - (at most 255 bytes);
// patterns may use "*" for one token and a final ">" for one or more.
// Topics under "switchboard." are the broker's: anyone may subscribe to
// them (connection and name events, docs/PROTOCOL.md 6.2), nobody may publish
// on them.
//
// The broker holds a bounded queue for each subscription. When a subscriber
// does not keep up its policy decides what is dropped; every drop is counted
// and reported to the subscriber (SubscribeOptions::on_drop) before its next
// message, never silent.
#ifndef SWITCHBOARD_MESSAGE_H_
#define SWITCHBOARD_MESSAGE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "switchboard/payload.h"

namespace switchboard {

// A message received on a subscription.
struct Message {
  // The topic it was published on (not the pattern).
  std::string topic;
  // Protobuf type the publisher says the payload holds; may be empty.
  std::string message_type;
  // The publisher, stamped by the broker: its connection id (":ID"), uid and
  // pid. 0 for messages the broker itself publishes (switchboard.>).
  uint64_t sender = 0;
  uint32_t sender_uid = 0;
  uint32_t sender_pid = 0;
  // When this client read it from the broker.
  absl::Time received;
  // The bytes (a view of the received frame, never copied) and any
  // SharedBuffers attached.
  Payload payload;

  // Parses the payload as T. Errors: kInvalidArgument if it is not a T.
  template <typename T>
  absl::StatusOr<T> As() const {
    T out;
    if (!out.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return absl::InvalidArgumentError(
          "message on " + topic + " is not a valid " +
          std::string(T::descriptor()->full_name()));
    }
    return out;
  }
};

// Runs on the dispatch thread, once per message, in the order the broker
// delivered them.
using MessageCallback = std::function<void(const Message&)>;

// Messages the broker dropped for a subscription (EVENT messages_dropped).
struct DropReport {
  uint64_t subscription = 0;
  // Dropped since the previous report.
  uint64_t count = 0;
  // Dropped over the subscription's life.
  uint64_t total = 0;
  // The broker's explanation, e.g. "queue full (1024 messages), policy
  // drop_oldest".
  std::string reason;
};
using DropCallback = std::function<void(const DropReport&)>;

// What the broker does with a message that does not fit the subscription's
// queue.
enum class OverflowPolicy {
  kDropOldest,  // discard the oldest queued messages (live data: keep newest)
  kDropNewest,  // discard the new message
  kDisconnect,  // close this client's connection (RESOURCE_EXHAUSTED)
};

struct SubscribeOptions {
  // Most messages and bytes the broker queues for this subscription; 0
  // takes the broker's defaults (1024 messages, 8 MiB). Larger values than
  // the broker allows are lowered; Subscribe() does not fail for them.
  uint32_t max_messages = 0;
  uint64_t max_bytes = 0;
  OverflowPolicy policy = OverflowPolicy::kDropOldest;
  // Runs on the dispatch thread before the next message of the
  // subscription, each time the broker reports drops. Without it, drops are
  // still counted (Client::GetSubscriptionStats()).
  DropCallback on_drop;
};

// What a subscription has seen so far.
struct SubscriptionStats {
  std::string pattern;
  // The limits the broker applies (defaults filled in, maximums applied).
  uint32_t max_messages = 0;
  uint64_t max_bytes = 0;
  OverflowPolicy policy = OverflowPolicy::kDropOldest;
  uint64_t received = 0;  // messages handed to the callback
  uint64_t dropped = 0;   // reported dropped by the broker
};

// Outcome of Client::PublishConfirmed().
struct PublishResult {
  uint32_t delivered = 0;  // subscriptions the message was queued for
  uint32_t dropped = 0;    // subscriptions that dropped it at once
};

}  // namespace switchboard

#endif  // SWITCHBOARD_MESSAGE_H_
