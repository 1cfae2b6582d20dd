// SPDX-License-Identifier: MIT
#include "daemon/core/router_context.h"

#include <algorithm>
#include <utility>

#include "daemon/core/frames.h"
#include "daemon/core/router_text.h"

namespace switchboard::core {
namespace {

SubscriptionLimits LimitsOf(const RouterConfig& config) {
  SubscriptionLimits limits;
  limits.max_messages = config.subscription_max_messages;
  limits.max_bytes = config.max_queued_bytes;
  limits.default_messages =
      std::min(config.subscription_default_messages, limits.max_messages);
  limits.default_bytes =
      std::min<uint64_t>(config.subscription_default_bytes, limits.max_bytes);
  limits.max_per_session = config.max_subscriptions;
  return limits;
}

ActivationLimits ActivationLimitsOf(const RouterConfig& config) {
  ActivationLimits limits = config.activation;
  limits.max_held_bytes = config.max_queued_bytes;
  return limits;
}

}  // namespace

RouterContext::RouterContext(const RouterConfig& router_config,
                             Outbox& router_outbox, BufferCheck buffer_check)
    : config(router_config),
      outbox(router_outbox),
      check_buffers(std::move(buffer_check)),
      accounts(router_config.uid_limits),
      names(&accounts),
      schemas(&accounts),
      calls(&accounts),
      activations(ActivationLimitsOf(router_config)),
      subscriptions(LimitsOf(router_config), &accounts) {
  config.default_call_timeout =
      std::min(config.default_call_timeout, kMaxCallTimeout);
}

void RouterContext::Deliver(SessionId to, wire::Frame frame) {
  ++stats.frames_out;
  outbox.Send(to, std::move(frame));
}

void RouterContext::Answer(SessionId to, RequestId request_id,
                           const absl::Status& status) {
  Deliver(to, BuildReply(request_id, status));
}

void RouterContext::CloseForProtocolError(const Peer& from,
                                          const absl::Status& reason) {
  ++stats.protocol_errors;
  outbox.CloseWithError(from.id, reason);
}

absl::Status RouterContext::CheckRequestId(SessionId from, RequestId id) const {
  if (!id.valid()) {
    return absl::InvalidArgumentError("request_id must be non-zero");
  }
  if (calls.IsPending(from, id) || monitors.Has(from, id) ||
      activations.IsHeld(from, id)) {
    return absl::InvalidArgumentError(
        Text("request_id ", id, " is already in use by a call still pending"));
  }
  return absl::OkStatus();
}

std::optional<v1::Header> RouterContext::AcceptRequest(
    const Peer& from, const wire::Frame& frame, v1::Header::BodyCase body) {
  absl::StatusOr<v1::Header> header = frame.ParseHeaderAs(body);
  if (!header.ok()) {
    CloseForProtocolError(from, header.status());
    return std::nullopt;
  }
  const RequestId id(frame.request_id());
  if (absl::Status s = CheckRequestId(from.id, id); !s.ok()) {
    Answer(from.id, id, s);
    return std::nullopt;
  }
  return *std::move(header);
}

bool RouterContext::Fits(SessionId session, size_t bytes) const {
  const size_t queued = outbox.QueuedBytes(session);
  return queued == 0 || queued + bytes <= config.max_queued_bytes;
}

absl::Status RouterContext::CheckFds(const wire::Frame& frame,
                                     SessionId to) const {
  const size_t count = frame.fds().size();
  if (count == 0) return absl::OkStatus();
  if (absl::Status sealed = check_buffers(frame.fds()); !sealed.ok()) {
    return sealed;
  }
  if (!outbox.AcceptsFds(to)) {
    return absl::FailedPreconditionError(
        Text(to, " does not receive file descriptors; send the ", count,
             " buffer(s) inline"));
  }
  const size_t queued = outbox.QueuedFds(to);
  if (queued > 0 && queued + count > config.max_fds_in_flight) {
    return absl::ResourceExhaustedError(
        Text(to, " is not keeping up: the broker holds ", queued,
             " descriptors for it, the limit is ", config.max_fds_in_flight));
  }
  return absl::OkStatus();
}

void RouterContext::StampSender(const Peer& from, wire::Frame& frame) {
  frame.set_sender(from.id.value(), from.uid, from.pid);
  // MORE is the sender's to set (Router::OnFrame admits it on REPLY only);
  // SENDER_ACCEPTS_FDS is the broker's.
  frame.set_flags(static_cast<uint16_t>(
      (frame.prefix().flags & wire::kFlagMore) |
      (from.accepts_fds ? wire::kFlagSenderAcceptsFds : 0)));
}

absl::Duration RouterContext::CallTimeout(uint64_t timeout_us) const {
  if (timeout_us == 0) return config.default_call_timeout;
  const uint64_t max_us =
      static_cast<uint64_t>(absl::ToInt64Microseconds(kMaxCallTimeout));
  return absl::Microseconds(static_cast<int64_t>(std::min(timeout_us, max_us)));
}

}  // namespace switchboard::core
