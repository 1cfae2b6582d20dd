// SPDX-License-Identifier: MIT
//
// The broker's own service, switchboard.Broker (docs/PROTOCOL.md 5.6): CALLs
// to it are answered by the router itself from its tables and counters.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "daemon/core/router.h"

namespace switchboard::core {

void Router::OnBrokerCall(const Peer& from, const wire::Frame& frame,
                          const v1::Call& call, absl::Time now) {
  ++stats_.status_requests;
  const RequestId id(frame.request_id());
  absl::Status refused;
  v1::GetStatusRequest request;
  if (!frame.fds().empty() || call.has_stream()) {
    refused = absl::InvalidArgumentError(
        absl::StrCat("calls to ", kBrokerService,
                     " may not carry descriptors or ask for a stream"));
  } else if (call.method() != kGetStatusMethod) {
    refused = absl::UnimplementedError(
        absl::StrCat(kBrokerService, " has no method '", call.method(), "'"));
  } else if (!request.ParseFromString(std::string(frame.payload()))) {
    refused = absl::InvalidArgumentError(
        "the request is not a switchboard.v1.GetStatusRequest");
  }
  if (!refused.ok()) {
    ++stats_.calls_refused;
    Answer(from.id, id, refused);
    return;
  }
  const std::string status = Status(now).SerializeAsString();
  if (!Fits(from.id, wire::kPrefixBytes + status.size())) {
    ++stats_.replies_over_quota;
    Answer(from.id, id,
           absl::ResourceExhaustedError(absl::StrCat(
               "the status (", status.size(),
               " bytes) does not fit this connection's output queue: ",
               outbox_.QueuedBytes(from.id), " bytes wait to be read")));
    return;
  }
  Deliver(from.id, BuildReply(id, absl::OkStatus(), status));
}

v1::BrokerStatus Router::Status(absl::Time now) const {
  v1::BrokerStatus status;
  status.set_version(config_.broker_version.empty()
                         ? std::string(kBrokerVersion)
                         : config_.broker_version);
  status.set_uptime_us(static_cast<uint64_t>(
      std::max<int64_t>(0, absl::ToInt64Microseconds(now - config_.started))));
  status.set_connections(sessions_.size());
  status.set_names(names_.name_count());
  status.set_frames_in(stats_.frames_in);
  status.set_frames_out(stats_.frames_out);
  status.set_calls(stats_.calls);
  status.set_calls_refused(stats_.calls_refused);
  status.set_deadlines_exceeded(stats_.deadlines_exceeded);
  status.set_streams(stats_.streams);
  status.set_stream_replies(stats_.stream_replies);
  status.set_publishes(stats_.publishes);
  status.set_messages_delivered(stats_.messages_delivered);
  status.set_messages_dropped(stats_.messages_dropped);
  status.set_buffers_refused(stats_.buffers_refused);
  status.set_protocol_errors(stats_.protocol_errors);
  for (const Subscription* subscription : subscriptions_.All()) {
    v1::SubscriptionStatus* out = status.add_subscriptions();
    out->set_connection_id(subscription->key.session.value());
    out->set_subscription_id(subscription->key.id);
    out->set_pattern(subscription->pattern);
    out->set_policy(std::string(PolicyName(subscription->policy)));
    out->set_max_messages(subscription->max_messages);
    out->set_max_bytes(subscription->max_bytes);
    const Outbox::Queued queued =
        outbox_.QueuedMessages(subscription->key.session, subscription->key.id);
    out->set_queued_messages(queued.messages);
    out->set_queued_bytes(queued.bytes);
    out->set_delivered(subscription->delivered);
    out->set_dropped(subscription->dropped);
  }
  return status;
}

}  // namespace switchboard::core
