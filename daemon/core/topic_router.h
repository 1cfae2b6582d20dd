// SPDX-License-Identifier: MIT
//
// TopicRouter: topics (docs/PROTOCOL.md 5.5, 6.2). SUBSCRIBE, UNSUBSCRIBE,
// PUBLISH and runs of PUBLISH frames, the fan-out of one shared MESSAGE to
// every matching subscription under its overflow policy (drop_oldest,
// drop_newest, disconnect), the drop reports, and the messages the broker
// publishes itself on its switchboard.> topics. It changes the context's
// SubscriptionTable. A PUBLISH has only its topic read; the published frame
// becomes one MESSAGE, stamped in its prefix, that every subscription
// queues.
//
// A subscriber that overflows a DISCONNECT subscription gets nothing more
// from then on, and is closed through the outbox (which does not call
// back, outbox.h) at the end of that publish, after the publisher's REPLY;
// the router forgets it when the server calls ForgetSession().
//
// Single-threaded: every method runs on the broker's loop thread.
#ifndef SWITCHBOARD_DAEMON_CORE_TOPIC_ROUTER_H_
#define SWITCHBOARD_DAEMON_CORE_TOPIC_ROUTER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "daemon/core/ids.h"
#include "daemon/core/monitor_hub.h"
#include "daemon/core/name_registry.h"
#include "daemon/core/peer.h"
#include "daemon/core/router_context.h"
#include "daemon/core/subscriptions.h"
#include "google/protobuf/message_lite.h"
#include "wire/frame.h"
#include "wire/publish_run.h"

namespace switchboard::core {

class TopicRouter {
 public:
  // `context` and `monitors` must outlive the topic router.
  TopicRouter(RouterContext& context, MonitorHub& monitors)
      : context_(context), monitors_(monitors) {}
  TopicRouter(const TopicRouter&) = delete;
  TopicRouter& operator=(const TopicRouter&) = delete;

  void OnSubscribe(const Peer& from, const wire::Frame& frame);
  void OnUnsubscribe(const Peer& from, const wire::Frame& frame);
  void OnPublish(const Peer& from, wire::Frame frame);
  // The PUBLISH frames of `run` (wire/publish_run.h), as OnPublish() would
  // handle them one after another, checking the topic, matching
  // subscriptions and queueing for each subscriber once for the lot.
  void OnPublishRun(const Peer& from, wire::PublishRun run);

  // What the broker publishes itself (sender 0), each built only when some
  // subscription matches: switchboard.connection.opened/closed and
  // switchboard.name.NAME.
  void PublishConnection(absl::string_view topic, const SessionInfo& info,
                         absl::string_view reason);
  void PublishOwnerChanges(const std::vector<NameOwnerChange>& changes);

  // `session` is gone: its subscriptions end.
  void ForgetSession(SessionId session);

 private:
  struct FanOutResult {
    uint32_t delivered = 0;
    uint32_t dropped = 0;
  };

  // Why `topic` may not be published on (malformed, reserved), or OK;
  // remembers the last topic found fine, since a publisher mostly repeats
  // it.
  absl::Status CheckPublishTopic(absl::string_view topic);
  // Why a PUBLISH on `topic` is refused, or OK.
  absl::Status CheckPublish(const Peer& from, const wire::Frame& frame,
                            absl::string_view topic);
  // Queues `message` for every subscription in `matches` by its policy.
  FanOutResult FanOut(const std::vector<Subscription*>& matches,
                      const std::shared_ptr<const wire::Frame>& message);
  // Queues `message` for one subscription, or drops it (or older ones) by
  // the policy, dooming the subscriber for DISCONNECT; returns whether the
  // message was queued.
  bool Offer(Subscription& subscription,
             const std::shared_ptr<const wire::Frame>& message);
  // Whether some session holds two or more of `matches`.
  static bool SessionRepeats(const std::vector<Subscription*>& matches);
  // Queues every message of `run` for one subscription: as one entry if
  // they all fit its queue and its connection's, else one at a time through
  // Offer(), by the policy.
  void OfferRun(Subscription& subscription,
                const std::shared_ptr<const wire::PublishRun>& run);
  // Why `bytes` (carrying `fds` descriptors) do not fit `subscription` now
  // (a DropReason), or 0 if they fit.
  uint8_t Overflow(const Subscription& subscription, size_t bytes,
                   size_t fds) const;
  void CountDrop(Subscription& subscription, DropReason reason);
  // Queues EVENT messages_dropped for the drops not reported yet, in place
  // of the subscription's last report if that one is still unwritten.
  void ReportDrops(Subscription& subscription);
  // Whether `session` overflowed a DISCONNECT subscription and was not
  // forgotten yet: it gets nothing more.
  bool IsClosing(SessionId session) const {
    return !closing_.empty() && closing_.contains(session);
  }
  // Closes the subscribers Offer() doomed, at the end of a publish: after
  // the publisher's REPLY, which must reach a publisher that doomed its own
  // subscription.
  void CloseSubscribers();
  // Publishes a message of the broker (sender 0) on a reserved topic;
  // builds it only when some subscription matches.
  void PublishFromBroker(absl::string_view topic, absl::string_view type,
                         const google::protobuf::MessageLite& payload);
  // The subscriptions matching `topic`, valid until the next Match(). One
  // vector serves every publish: nothing publishes during a fan-out.
  const std::vector<Subscription*>& Match(absl::string_view topic);

  RouterContext& context_;
  MonitorHub& monitors_;
  std::vector<Subscription*> matches_;
  // The last topic CheckPublish() found well formed and not reserved: a
  // publisher mostly repeats its topic, so it is checked once.
  std::string last_allowed_topic_;
  // Subscribers that overflowed a DISCONNECT subscription, until
  // ForgetSession(), and the closes still to ask the outbox for.
  struct Close {
    SessionId session;
    absl::Status reason;
  };
  absl::flat_hash_set<SessionId> closing_;
  std::vector<Close> closes_;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_TOPIC_ROUTER_H_
