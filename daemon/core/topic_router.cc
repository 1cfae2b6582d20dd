// SPDX-License-Identifier: MIT
#include "daemon/core/topic_router.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "wire/topic.h"

namespace switchboard::core {

void TopicRouter::OnSubscribe(const Peer& from, const wire::Frame& frame) {
  std::optional<v1::Header> header =
      context_.AcceptRequest(from, frame, v1::Header::kSubscribe);
  if (!header) return;
  const RequestId id(frame.request_id());
  if (absl::Status s =
          context_.accounts.Check(from.id, Quota::kSubscriptions, 1);
      !s.ok()) {
    context_.Answer(from.id, id, s);
    return;
  }
  absl::StatusOr<const Subscription*> added =
      context_.subscriptions.Add(from.id, header->subscribe());
  if (!added.ok()) {
    context_.Answer(from.id, id, added.status());
    return;
  }
  ++context_.stats.subscribes;
  v1::SubscribeResult result;
  result.set_max_messages((*added)->max_messages);
  result.set_max_bytes((*added)->max_bytes);
  result.set_policy((*added)->policy);
  context_.Deliver(
      from.id, BuildReply(id, absl::OkStatus(), result.SerializeAsString()));
}

void TopicRouter::OnUnsubscribe(const Peer& from, const wire::Frame& frame) {
  std::optional<v1::Header> header =
      context_.AcceptRequest(from, frame, v1::Header::kUnsubscribe);
  if (!header) return;
  absl::Status removed = context_.subscriptions.Remove(
      from.id, header->unsubscribe().subscription_id());
  if (removed.ok()) ++context_.stats.unsubscribes;
  context_.Answer(from.id, RequestId(frame.request_id()), removed);
}

absl::Status TopicRouter::CheckPublishTopic(absl::string_view topic) {
  if (!topic.empty() && topic == last_allowed_topic_) return absl::OkStatus();
  if (absl::Status s = wire::ValidateTopic(topic); !s.ok()) return s;
  if (wire::IsReservedTopic(topic)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "topic '", topic, "' is reserved: topics whose first token is '",
        wire::kReservedTopicToken, "' belong to the broker"));
  }
  last_allowed_topic_.assign(topic.data(), topic.size());
  return absl::OkStatus();
}

absl::Status TopicRouter::CheckPublish(const Peer& from,
                                       const wire::Frame& frame,
                                       absl::string_view topic) {
  if (absl::Status s = CheckPublishTopic(topic); !s.ok()) return s;
  const RequestId id(frame.request_id());
  if (id.valid()) {
    if (absl::Status s = context_.CheckRequestId(from.id, id); !s.ok())
      return s;
  }
  if (!frame.fds().empty()) {
    if (absl::Status sealed = context_.check_buffers(frame.fds());
        !sealed.ok()) {
      ++context_.stats.buffers_refused;
      return sealed;
    }
  }
  return absl::OkStatus();
}

void TopicRouter::OnPublish(const Peer& from, wire::Frame frame) {
  // Only the topic is read: the header travels on byte for byte.
  absl::StatusOr<absl::string_view> topic =
      wire::ReadPublishTopic(frame.header_bytes());
  if (!topic.ok()) {
    context_.CloseForProtocolError(from, topic.status());
    return;
  }
  const RequestId id(frame.request_id());
  if (absl::Status refused = CheckPublish(from, frame, *topic); !refused.ok()) {
    ++context_.stats.publishes_refused;
    // Without a request id nobody could be told; only a broken client gets
    // here, since the library checks topics before sending.
    if (id.valid()) {
      context_.Answer(from.id, id, refused);
    } else {
      context_.CloseForProtocolError(from, refused);
    }
    return;
  }
  ++context_.stats.publishes;
  const std::vector<Subscription*>& matches = Match(*topic);
  FanOutResult result;
  std::shared_ptr<const wire::Frame> shared;
  if (!matches.empty()) {
    frame.set_kind(wire::Kind::kMessage);
    context_.StampSender(from, frame);
    // The one copy every subscription shares (`topic` points into its bytes,
    // which do not move with the Frame).
    shared = std::make_shared<const wire::Frame>(std::move(frame));
    result = FanOut(matches, shared);
  }
  if (monitors_.active()) {
    monitors_.DescribePublish(from, *topic, shared ? *shared : frame,
                              result.delivered);
  }
  if (id.valid()) {
    v1::PublishResult reply;
    reply.set_delivered(result.delivered);
    reply.set_dropped(result.dropped);
    context_.Deliver(
        from.id, BuildReply(id, absl::OkStatus(), reply.SerializeAsString()));
  }
  CloseSubscribers();
}

void TopicRouter::OnPublishRun(const Peer& from, wire::PublishRun run) {
  absl::StatusOr<absl::string_view> topic =
      wire::ReadPublishTopic(run.header_bytes());
  if (!topic.ok()) {
    context_.CloseForProtocolError(from, topic.status());
    return;
  }
  // A run has no request id and no descriptors: only the topic can be
  // refused, and it is every frame's.
  if (absl::Status refused = CheckPublishTopic(*topic); !refused.ok()) {
    // The first frame closes the connection, so the others never count.
    ++context_.stats.publishes_refused;
    context_.CloseForProtocolError(from, refused);
    return;
  }
  if (monitors_.active()) {
    // Monitors describe every message: route them one by one.
    const absl::string_view bytes = run.bytes();
    for (size_t offset = 0; offset < bytes.size();
         offset += wire::PublishRun::FrameBytesAt(bytes.data() + offset)) {
      OnPublish(from, run.CopyFrame(offset));
    }
    return;
  }
  context_.stats.publishes += run.count();
  // `topic` points into the run's buffer, which stays where it is.
  const std::vector<Subscription*>& matches = Match(*topic);
  if (!matches.empty()) {
    run.StampMessages(from.id.value(), from.uid, from.pid,
                      from.accepts_fds ? wire::kFlagSenderAcceptsFds : 0);
    if (SessionRepeats(matches)) {
      // A connection with two matching subscriptions gets both copies of a
      // message before the next message (PROTOCOL.md 9), and the room in
      // its queue goes to them in that order: message by message.
      const absl::string_view bytes = run.bytes();
      for (size_t offset = 0; offset < bytes.size();
           offset += wire::PublishRun::FrameBytesAt(bytes.data() + offset)) {
        const auto message =
            std::make_shared<const wire::Frame>(run.CopyFrame(offset));
        for (Subscription* subscription : matches) {
          if (IsClosing(subscription->key.session)) continue;
          Offer(*subscription, message);
        }
      }
    } else {
      const auto shared =
          std::make_shared<const wire::PublishRun>(std::move(run));
      for (Subscription* subscription : matches) {
        if (IsClosing(subscription->key.session)) continue;
        OfferRun(*subscription, shared);
      }
    }
  }
  CloseSubscribers();
}

bool TopicRouter::SessionRepeats(const std::vector<Subscription*>& matches) {
  // Matches are few: comparing pairs beats building a set.
  for (size_t i = 1; i < matches.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (matches[i]->key.session == matches[j]->key.session) return true;
    }
  }
  return false;
}

void TopicRouter::OfferRun(Subscription& subscription,
                           const std::shared_ptr<const wire::PublishRun>& run) {
  const SessionId session = subscription.key.session;
  const size_t bytes = run->bytes().size();
  const size_t count = run->count();
  const Outbox::Queued queued =
      context_.outbox.QueuedMessages(session, subscription.key.id);
  if (queued.messages + count <= subscription.max_messages &&
      queued.bytes + bytes <= subscription.max_bytes &&
      context_.outbox.QueuedBytes(session) + bytes <=
          context_.config.max_queued_bytes &&
      context_.outbox.CheckUidRoom(session, bytes, 0).ok()) {
    if (subscription.unreported > 0) ReportDrops(subscription);
    subscription.delivered += count;
    context_.stats.messages_delivered += count;
    context_.stats.frames_out += count;
    context_.outbox.SendRun(session, subscription.key.id, run);
    return;
  }
  // Not all fit now: each message meets the policy on its own, exactly as
  // it would have arriving alone.
  const absl::string_view all = run->bytes();
  for (size_t offset = 0; offset < all.size();
       offset += wire::PublishRun::FrameBytesAt(all.data() + offset)) {
    Offer(subscription,
          std::make_shared<const wire::Frame>(run->CopyFrame(offset)));
    if (IsClosing(session)) return;
  }
}

const std::vector<Subscription*>& TopicRouter::Match(absl::string_view topic) {
  matches_.clear();
  context_.subscriptions.Match(topic, &matches_);
  return matches_;
}

TopicRouter::FanOutResult TopicRouter::FanOut(
    const std::vector<Subscription*>& matches,
    const std::shared_ptr<const wire::Frame>& message) {
  FanOutResult result;
  for (Subscription* subscription : matches) {
    const SessionId session = subscription->key.session;
    // A subscriber closed by this fan-out or an earlier one gets nothing
    // more.
    if (IsClosing(session)) continue;
    if (Offer(*subscription, message)) {
      ++result.delivered;
    } else {
      ++result.dropped;
    }
  }
  return result;
}

uint8_t TopicRouter::Overflow(const Subscription& subscription, size_t bytes,
                              size_t fds) const {
  const SessionId session = subscription.key.session;
  const Outbox::Queued queued =
      context_.outbox.QueuedMessages(session, subscription.key.id);
  // A message always fits a subscription with nothing queued.
  if (queued.messages > 0 && (queued.messages >= subscription.max_messages ||
                              queued.bytes + bytes > subscription.max_bytes)) {
    return kDropQueueFull;
  }
  if (!context_.Fits(session, bytes)) return kDropConnectionQueueFull;
  if (fds > 0) {
    const size_t held = context_.outbox.QueuedFds(session);
    if (held > 0 && held + fds > context_.config.max_fds_in_flight) {
      return kDropFdsInFlight;
    }
  }
  if (!context_.outbox.CheckUidRoom(session, bytes, fds).ok()) {
    return kDropUidQuota;
  }
  return 0;
}

void TopicRouter::CountDrop(Subscription& subscription, DropReason reason) {
  subscription.RecordDrop(reason);
  ++context_.stats.messages_dropped;
}

bool TopicRouter::Offer(Subscription& subscription,
                        const std::shared_ptr<const wire::Frame>& message) {
  const SessionId session = subscription.key.session;
  const size_t bytes = message->bytes().size();
  const size_t fds = message->fds().size();
  if (fds > 0 && !context_.outbox.AcceptsFds(session)) {
    CountDrop(subscription, kDropNoFds);
    return false;
  }
  bool written = false;
  while (const uint8_t full = Overflow(subscription, bytes, fds)) {
    if (!written) {
      // What the socket takes now is not dropped.
      written = true;
      context_.outbox.WriteNow(session);
      continue;
    }
    const auto reason = static_cast<DropReason>(full);
    switch (subscription.policy) {
      case v1::OVERFLOW_POLICY_DISCONNECT: {
        const Outbox::Queued queued =
            context_.outbox.QueuedMessages(session, subscription.key.id);
        CountDrop(subscription, reason);
        ++context_.stats.subscribers_disconnected;
        closing_.insert(session);
        closes_.push_back(Close{
            session,
            absl::ResourceExhaustedError(absl::StrCat(
                "subscription ", subscription.key.id, " ('",
                subscription.pattern,
                "', policy disconnect) overflowed: ", DropReasonText(full),
                " (", queued.messages, " messages, ", queued.bytes,
                " bytes queued; limits ", subscription.max_messages,
                " messages, ", subscription.max_bytes, " bytes)"))});
        return false;
      }
      case v1::OVERFLOW_POLICY_DROP_NEWEST:
        CountDrop(subscription, reason);
        return false;
      default:  // DROP_OLDEST
        if (context_.outbox.DropOldestMessage(session, subscription.key.id) ==
            0) {
          CountDrop(subscription, reason);  // nothing older to discard
          return false;
        }
        if (subscription.delivered > 0) --subscription.delivered;
        CountDrop(subscription, reason);
        break;
    }
  }
  if (subscription.unreported > 0) ReportDrops(subscription);
  ++subscription.delivered;
  ++context_.stats.messages_delivered;
  ++context_.stats.frames_out;
  context_.outbox.SendMessage(session, subscription.key.id, message);
  return true;
}

void TopicRouter::ReportDrops(Subscription& subscription) {
  const SessionId session = subscription.key.session;
  // A report still waiting unwritten takes these drops as well, so a
  // subscriber that stops reading gets one report, not one per message
  // dropped, and reports never crowd out the messages it keeps.
  const bool replaces =
      context_.outbox.HasUnsentDropReport(session, subscription.key.id);
  if (replaces) {
    subscription.report_count += subscription.unreported;
    subscription.report_reasons |= subscription.unreported_reasons;
  } else {
    subscription.report_count = subscription.unreported;
    subscription.report_reasons = subscription.unreported_reasons;
    ++context_.stats.frames_out;
  }
  subscription.unreported = 0;
  subscription.unreported_reasons = 0;
  v1::Event event;
  v1::Event::MessagesDropped* dropped = event.mutable_messages_dropped();
  dropped->set_subscription_id(subscription.key.id);
  dropped->set_count(subscription.report_count);
  dropped->set_total(subscription.dropped);
  dropped->set_reason(DropReasonText(subscription.report_reasons));
  context_.outbox.SendDropReport(session, subscription.key.id,
                                 BuildEvent(event));
}

void TopicRouter::PublishFromBroker(
    absl::string_view topic, absl::string_view type,
    const google::protobuf::MessageLite& payload) {
  const std::vector<Subscription*>& matches = Match(topic);
  if (!matches.empty()) {
    ++context_.stats.broker_messages;
    FanOut(matches, std::make_shared<const wire::Frame>(BuildBrokerMessage(
                        topic, type, payload.SerializeAsString())));
  }
  CloseSubscribers();
}

void TopicRouter::PublishConnection(absl::string_view topic,
                                    const SessionInfo& info,
                                    absl::string_view reason) {
  v1::ConnectionEvent event;
  event.set_connection_id(info.peer.id.value());
  event.set_client_name(info.client_name);
  event.set_uid(info.peer.uid);
  event.set_pid(info.peer.pid);
  event.set_transport(info.transport);
  event.set_reason(std::string(reason));
  PublishFromBroker(topic, event.GetTypeName(), event);
}

void TopicRouter::PublishOwnerChanges(
    const std::vector<NameOwnerChange>& changes) {
  for (const NameOwnerChange& change : changes) {
    v1::NameOwnerChanged event;
    event.set_name(change.name);
    event.set_old_owner(change.old_owner.value());
    event.set_new_owner(change.new_owner.value());
    PublishFromBroker(absl::StrCat(kTopicNamePrefix, change.name),
                      event.GetTypeName(), event);
  }
}

void TopicRouter::CloseSubscribers() {
  for (const Close& close : std::exchange(closes_, {})) {
    ++context_.stats.protocol_errors;
    context_.outbox.CloseWithError(close.session, close.reason);
  }
}

void TopicRouter::ForgetSession(SessionId session) {
  context_.subscriptions.ForgetSession(session);
  closing_.erase(session);
}

}  // namespace switchboard::core
