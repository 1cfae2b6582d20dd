// SPDX-License-Identifier: MIT
//
// The router's topic half (docs/PROTOCOL.md 5.5, 6.2): SUBSCRIBE,
// UNSUBSCRIBE, PUBLISH, the fan-out of one shared MESSAGE to every matching
// subscription under its overflow policy, and the messages the broker
// publishes itself.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "daemon/core/router.h"
#include "wire/topic.h"

namespace switchboard::core {

void Router::OnSubscribe(const Peer& from, const wire::Frame& frame) {
  std::optional<v1::Header> header =
      AcceptRequest(from, frame, v1::Header::kSubscribe);
  if (!header) return;
  const RequestId id(frame.request_id());
  absl::StatusOr<const Subscription*> added =
      subscriptions_.Add(from.id, header->subscribe());
  if (!added.ok()) {
    Answer(from.id, id, added.status());
    return;
  }
  ++stats_.subscribes;
  v1::SubscribeResult result;
  result.set_max_messages((*added)->max_messages);
  result.set_max_bytes((*added)->max_bytes);
  result.set_policy((*added)->policy);
  Deliver(from.id,
          BuildReply(id, absl::OkStatus(), result.SerializeAsString()));
}

void Router::OnUnsubscribe(const Peer& from, const wire::Frame& frame) {
  std::optional<v1::Header> header =
      AcceptRequest(from, frame, v1::Header::kUnsubscribe);
  if (!header) return;
  absl::Status removed =
      subscriptions_.Remove(from.id, header->unsubscribe().subscription_id());
  if (removed.ok()) ++stats_.unsubscribes;
  Answer(from.id, RequestId(frame.request_id()), removed);
}

absl::Status Router::CheckPublishTopic(absl::string_view topic) {
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

absl::Status Router::CheckPublish(const Peer& from, const wire::Frame& frame,
                                  absl::string_view topic) {
  if (absl::Status s = CheckPublishTopic(topic); !s.ok()) return s;
  const RequestId id(frame.request_id());
  if (id.valid()) {
    if (absl::Status s = CheckRequestId(from.id, id); !s.ok()) return s;
  }
  if (!frame.fds().empty()) {
    if (absl::Status sealed = check_buffers_(frame.fds()); !sealed.ok()) {
      ++stats_.buffers_refused;
      return sealed;
    }
  }
  return absl::OkStatus();
}

void Router::OnPublish(const Peer& from, wire::Frame frame) {
  // Only the topic is read: the header travels on byte for byte.
  absl::StatusOr<absl::string_view> topic =
      wire::ReadPublishTopic(frame.header_bytes());
  if (!topic.ok()) {
    CloseForProtocolError(from, topic.status());
    return;
  }
  const RequestId id(frame.request_id());
  if (absl::Status refused = CheckPublish(from, frame, *topic); !refused.ok()) {
    ++stats_.publishes_refused;
    // Without a request id nobody could be told; only a broken client gets
    // here, since the library checks topics before sending.
    if (id.valid()) {
      Answer(from.id, id, refused);
    } else {
      CloseForProtocolError(from, refused);
    }
    return;
  }
  ++stats_.publishes;
  std::vector<Subscription*> matches = TakeMatchScratch();
  subscriptions_.Match(*topic, &matches);
  FanOutResult result;
  std::shared_ptr<const wire::Frame> shared;
  if (!matches.empty()) {
    frame.set_kind(wire::Kind::kMessage);
    StampSender(from, frame);
    // The one copy every subscription shares (`topic` points into its bytes,
    // which do not move with the Frame).
    shared = std::make_shared<const wire::Frame>(std::move(frame));
    result = FanOut(matches, shared);
  }
  ReturnMatchScratch(std::move(matches));
  if (!monitors_.empty()) {
    MonitorPublish(from, *topic, shared ? *shared : frame, result.delivered);
  }
  if (id.valid()) {
    v1::PublishResult reply;
    reply.set_delivered(result.delivered);
    reply.set_dropped(result.dropped);
    Deliver(from.id,
            BuildReply(id, absl::OkStatus(), reply.SerializeAsString()));
  }
  CloseSubscribers(result.closing);
}

void Router::OnPublishRun(const Peer& from, wire::PublishRun run,
                          absl::Time now) {
  stats_.frames_in += run.count();
  now_ = now;
  absl::StatusOr<absl::string_view> topic =
      wire::ReadPublishTopic(run.header_bytes());
  if (!topic.ok()) {
    CloseForProtocolError(from, topic.status());
    return;
  }
  // A run has no request id and no descriptors: only the topic can be
  // refused, and it is every frame's.
  if (absl::Status refused = CheckPublishTopic(*topic); !refused.ok()) {
    // The first frame closes the connection, so the others never count.
    ++stats_.publishes_refused;
    CloseForProtocolError(from, refused);
    return;
  }
  if (!monitors_.empty()) {
    // Monitors describe every message: route them one by one.
    const absl::string_view bytes = run.bytes();
    for (size_t offset = 0; offset < bytes.size();
         offset += wire::PublishRun::FrameBytesAt(bytes.data() + offset)) {
      OnPublish(from, run.CopyFrame(offset));
    }
    return;
  }
  stats_.publishes += run.count();
  std::vector<Subscription*> matches = TakeMatchScratch();
  // `topic` points into the run's buffer, which stays where it is.
  subscriptions_.Match(*topic, &matches);
  std::vector<Closing> closing;
  if (!matches.empty()) {
    run.StampMessages(from.id.value(), from.uid, from.pid,
                      from.accepts_fds ? wire::kFlagSenderAcceptsFds : 0);
    // A subscriber already doomed by this run gets nothing more.
    auto doomed = [&closing](SessionId session) {
      return std::any_of(closing.begin(), closing.end(), [&](const Closing& c) {
        return c.session == session;
      });
    };
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
          if (doomed(subscription->key.session)) continue;
          Offer(*subscription, message, &closing);
        }
      }
    } else {
      const auto shared =
          std::make_shared<const wire::PublishRun>(std::move(run));
      for (Subscription* subscription : matches) {
        if (doomed(subscription->key.session)) continue;
        OfferRun(*subscription, shared, &closing);
      }
    }
  }
  ReturnMatchScratch(std::move(matches));
  CloseSubscribers(closing);
}

bool Router::SessionRepeats(const std::vector<Subscription*>& matches) {
  // Matches are few: comparing pairs beats building a set.
  for (size_t i = 1; i < matches.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (matches[i]->key.session == matches[j]->key.session) return true;
    }
  }
  return false;
}

void Router::OfferRun(Subscription& subscription,
                      const std::shared_ptr<const wire::PublishRun>& run,
                      std::vector<Closing>* closing) {
  const SessionId session = subscription.key.session;
  const size_t bytes = run->bytes().size();
  const size_t count = run->count();
  const Outbox::Queued queued =
      outbox_.QueuedMessages(session, subscription.key.id);
  if (queued.messages + count <= subscription.max_messages &&
      queued.bytes + bytes <= subscription.max_bytes &&
      outbox_.QueuedBytes(session) + bytes <= config_.max_queued_bytes) {
    if (subscription.unreported > 0) ReportDrops(subscription);
    subscription.delivered += count;
    stats_.messages_delivered += count;
    stats_.frames_out += count;
    outbox_.SendRun(session, subscription.key.id, run);
    return;
  }
  // Not all fit now: each message meets the policy on its own, exactly as
  // it would have arriving alone.
  const absl::string_view all = run->bytes();
  for (size_t offset = 0; offset < all.size();
       offset += wire::PublishRun::FrameBytesAt(all.data() + offset)) {
    Offer(subscription,
          std::make_shared<const wire::Frame>(run->CopyFrame(offset)), closing);
    if (!closing->empty() && closing->back().session == session) return;
  }
}

std::vector<Subscription*> Router::TakeMatchScratch() {
  std::vector<Subscription*> matches = std::move(match_scratch_);
  match_scratch_ = {};
  matches.clear();
  return matches;
}

void Router::ReturnMatchScratch(std::vector<Subscription*> matches) {
  if (matches.capacity() > match_scratch_.capacity()) {
    match_scratch_ = std::move(matches);
  }
}

Router::FanOutResult Router::FanOut(
    const std::vector<Subscription*>& matches,
    const std::shared_ptr<const wire::Frame>& message) {
  FanOutResult result;
  for (Subscription* subscription : matches) {
    const SessionId session = subscription->key.session;
    // A subscriber already doomed by this fan-out gets nothing more.
    if (!result.closing.empty() &&
        std::any_of(result.closing.begin(), result.closing.end(),
                    [&](const Closing& c) { return c.session == session; })) {
      continue;
    }
    if (Offer(*subscription, message, &result.closing)) {
      ++result.delivered;
    } else {
      ++result.dropped;
    }
  }
  return result;
}

uint8_t Router::Overflow(const Subscription& subscription, size_t bytes,
                         size_t fds) const {
  const SessionId session = subscription.key.session;
  const Outbox::Queued queued =
      outbox_.QueuedMessages(session, subscription.key.id);
  // A message always fits a subscription with nothing queued.
  if (queued.messages > 0 && (queued.messages >= subscription.max_messages ||
                              queued.bytes + bytes > subscription.max_bytes)) {
    return kDropQueueFull;
  }
  if (!Fits(session, bytes)) return kDropConnectionQueueFull;
  if (fds > 0) {
    const size_t held = outbox_.QueuedFds(session);
    if (held > 0 && held + fds > config_.max_fds_in_flight) {
      return kDropFdsInFlight;
    }
  }
  return 0;
}

void Router::CountDrop(Subscription& subscription, DropReason reason) {
  subscription.RecordDrop(reason);
  ++stats_.messages_dropped;
}

bool Router::Offer(Subscription& subscription,
                   const std::shared_ptr<const wire::Frame>& message,
                   std::vector<Closing>* closing) {
  const SessionId session = subscription.key.session;
  const size_t bytes = message->bytes().size();
  const size_t fds = message->fds().size();
  if (fds > 0 && !outbox_.AcceptsFds(session)) {
    CountDrop(subscription, kDropNoFds);
    return false;
  }
  bool written = false;
  while (const uint8_t full = Overflow(subscription, bytes, fds)) {
    if (!written) {
      // What the socket takes now is not dropped.
      written = true;
      outbox_.WriteNow(session);
      continue;
    }
    const auto reason = static_cast<DropReason>(full);
    switch (subscription.policy) {
      case v1::OVERFLOW_POLICY_DISCONNECT: {
        const Outbox::Queued queued =
            outbox_.QueuedMessages(session, subscription.key.id);
        CountDrop(subscription, reason);
        ++stats_.subscribers_disconnected;
        closing->push_back(Closing{
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
        if (outbox_.DropOldestMessage(session, subscription.key.id) == 0) {
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
  ++stats_.messages_delivered;
  ++stats_.frames_out;
  outbox_.SendMessage(session, subscription.key.id, message);
  return true;
}

void Router::ReportDrops(Subscription& subscription) {
  const SessionId session = subscription.key.session;
  // A report still waiting unwritten takes these drops as well, so a
  // subscriber that stops reading gets one report, not one per message
  // dropped, and reports never crowd out the messages it keeps.
  const bool replaces =
      outbox_.HasUnsentDropReport(session, subscription.key.id);
  if (replaces) {
    subscription.report_count += subscription.unreported;
    subscription.report_reasons |= subscription.unreported_reasons;
  } else {
    subscription.report_count = subscription.unreported;
    subscription.report_reasons = subscription.unreported_reasons;
    ++stats_.frames_out;
  }
  subscription.unreported = 0;
  subscription.unreported_reasons = 0;
  v1::Event event;
  v1::Event::MessagesDropped* dropped = event.mutable_messages_dropped();
  dropped->set_subscription_id(subscription.key.id);
  dropped->set_count(subscription.report_count);
  dropped->set_total(subscription.dropped);
  dropped->set_reason(DropReasonText(subscription.report_reasons));
  outbox_.SendDropReport(session, subscription.key.id, BuildEvent(event));
}

void Router::CloseSubscribers(const std::vector<Closing>& closing) {
  // Each close may re-enter ForgetSession() and publish again; this list is
  // our own, so nothing it holds can change under us.
  for (const Closing& c : closing) {
    ++stats_.protocol_errors;
    outbox_.CloseWithError(c.session, c.reason);
  }
}

void Router::PublishFromBroker(absl::string_view topic, absl::string_view type,
                               const google::protobuf::MessageLite& payload) {
  std::vector<Subscription*> matches = TakeMatchScratch();
  subscriptions_.Match(topic, &matches);
  FanOutResult result;
  if (!matches.empty()) {
    ++stats_.broker_messages;
    result =
        FanOut(matches, std::make_shared<const wire::Frame>(BuildBrokerMessage(
                            topic, type, payload.SerializeAsString())));
  }
  ReturnMatchScratch(std::move(matches));
  CloseSubscribers(result.closing);
}

void Router::PublishConnection(absl::string_view topic, const SessionInfo& info,
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

void Router::PublishOwnerChanges(const std::vector<NameOwnerChange>& changes) {
  for (const NameOwnerChange& change : changes) {
    v1::NameOwnerChanged event;
    event.set_name(change.name);
    event.set_old_owner(change.old_owner.value());
    event.set_new_owner(change.new_owner.value());
    PublishFromBroker(absl::StrCat(kTopicNamePrefix, change.name),
                      event.GetTypeName(), event);
  }
}

}  // namespace switchboard::core
