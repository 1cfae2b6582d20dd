// SPDX-License-Identifier: MIT
#include "daemon/core/router.h"

#include <algorithm>
#include <limits>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "daemon/core/names.h"

namespace switchboard::core {
namespace {

template <typename... Parts>
std::string Text(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

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

}  // namespace

Router::Router(const RouterConfig& config, Outbox& outbox,
               BufferCheck check_buffers)
    : config_(config),
      outbox_(outbox),
      check_buffers_(std::move(check_buffers)),
      subscriptions_(LimitsOf(config)),
      activations_([&config] {
        ActivationLimits limits = config.activation;
        limits.max_held_bytes = config.max_queued_bytes;
        return limits;
      }()) {
  config_.default_call_timeout =
      std::min(config_.default_call_timeout, kMaxCallTimeout);
}

void Router::OnFrame(const Peer& from, wire::Frame frame, absl::Time now) {
  ++stats_.frames_in;
  now_ = now;
  if ((frame.prefix().flags & wire::kFlagMore) != 0 &&
      frame.kind() != wire::Kind::kReply) {
    CloseForProtocolError(
        from, absl::InvalidArgumentError(
                  absl::StrCat("flag MORE is allowed on REPLY only, not on ",
                               wire::KindName(frame.kind()))));
    return;
  }
  switch (frame.kind()) {
    case wire::Kind::kCall:
      OnCall(from, std::move(frame), now);
      return;
    case wire::Kind::kReply:
      OnReply(from, std::move(frame));
      return;
    case wire::Kind::kCancel:
      OnCancel(from, std::move(frame));
      return;
    case wire::Kind::kPing:
      OnPing(from, frame);
      return;
    case wire::Kind::kRegisterName:
      OnRegisterName(from, frame);
      return;
    case wire::Kind::kReleaseName:
      OnReleaseName(from, frame);
      return;
    case wire::Kind::kError:
      OnError(from, frame);
      return;
    case wire::Kind::kCredit:
      OnCredit(from, std::move(frame));
      return;
    case wire::Kind::kSubscribe:
      OnSubscribe(from, frame);
      return;
    case wire::Kind::kUnsubscribe:
      OnUnsubscribe(from, frame);
      return;
    case wire::Kind::kPublish:
      OnPublish(from, std::move(frame));
      return;
    case wire::Kind::kHello:
      CloseForProtocolError(from, absl::InvalidArgumentError(
                                      "HELLO sent twice on one connection"));
      return;
    case wire::Kind::kWelcome:
    case wire::Kind::kEvent:
    case wire::Kind::kMessage:
      CloseForProtocolError(
          from, absl::InvalidArgumentError(
                    absl::StrCat("clients may not send ",
                                 wire::KindName(frame.kind()), " frames")));
      return;
  }
  // The decoder admits only the kinds above.
  CloseForProtocolError(from, absl::InvalidArgumentError("unknown frame kind"));
}

absl::Status Router::CheckRequestId(SessionId from, RequestId id) const {
  if (!id.valid()) {
    return absl::InvalidArgumentError("request_id must be non-zero");
  }
  if (calls_.IsPending(from, id) || monitors_.Has(from, id) ||
      activations_.IsHeld(from, id)) {
    return absl::InvalidArgumentError(
        Text("request_id ", id, " is already in use by a call still pending"));
  }
  return absl::OkStatus();
}

bool Router::Fits(SessionId session, size_t bytes) const {
  const size_t queued = outbox_.QueuedBytes(session);
  return queued == 0 || queued + bytes <= config_.max_queued_bytes;
}

absl::Status Router::CheckFds(const wire::Frame& frame, SessionId to) const {
  const size_t count = frame.fds().size();
  if (count == 0) return absl::OkStatus();
  if (absl::Status sealed = check_buffers_(frame.fds()); !sealed.ok()) {
    return sealed;
  }
  if (!outbox_.AcceptsFds(to)) {
    return absl::FailedPreconditionError(
        Text(to, " does not receive file descriptors; send the ", count,
             " buffer(s) inline"));
  }
  const size_t queued = outbox_.QueuedFds(to);
  if (queued > 0 && queued + count > config_.max_fds_in_flight) {
    return absl::ResourceExhaustedError(
        Text(to, " is not keeping up: the broker holds ", queued,
             " descriptors for it, the limit is ", config_.max_fds_in_flight));
  }
  return absl::OkStatus();
}

void Router::StampSender(const Peer& from, wire::Frame& frame) {
  frame.set_sender(from.id.value(), from.uid, from.pid);
  // MORE is the sender's to set (OnFrame admits it on REPLY only);
  // SENDER_ACCEPTS_FDS is the broker's.
  frame.set_flags(static_cast<uint16_t>(
      (frame.prefix().flags & wire::kFlagMore) |
      (from.accepts_fds ? wire::kFlagSenderAcceptsFds : 0)));
}

absl::Duration Router::CallTimeout(uint64_t timeout_us) const {
  if (timeout_us == 0) return config_.default_call_timeout;
  const uint64_t max_us =
      static_cast<uint64_t>(absl::ToInt64Microseconds(kMaxCallTimeout));
  return absl::Microseconds(static_cast<int64_t>(std::min(timeout_us, max_us)));
}

void Router::Deliver(SessionId to, wire::Frame frame) {
  ++stats_.frames_out;
  outbox_.Send(to, std::move(frame));
}

void Router::Answer(SessionId to, RequestId request_id,
                    const absl::Status& status) {
  Deliver(to, BuildReply(request_id, status));
}

void Router::EndCall(const PendingCall& call, const absl::Status& status) {
  if (!monitors_.empty()) MonitorAnswer(call.caller, call.id, "", "", status);
  Answer(call.caller, call.caller_request_id, status);
  Deliver(call.callee, BuildCancel(call.id));
}

void Router::CloseForProtocolError(const Peer& from,
                                   const absl::Status& reason) {
  ++stats_.protocol_errors;
  outbox_.CloseWithError(from.id, reason);
}

void Router::OnCall(const Peer& from, wire::Frame frame, absl::Time now) {
  ++stats_.calls;
  absl::StatusOr<v1::Header> header = frame.ParseHeaderAs(v1::Header::kCall);
  if (!header.ok()) {
    CloseForProtocolError(from, header.status());
    return;
  }
  const RequestId caller_request_id(frame.request_id());
  const v1::Call& call = header->call();
  absl::Status refused = CheckRequestId(from.id, caller_request_id);
  if (refused.ok()) refused = ValidateServiceName(call.service());
  if (refused.ok()) refused = ValidateMethodName(call.method());
  if (refused.ok() && call.service() == kBrokerService) {
    OnBrokerCall(from, frame, call, now);
    return;
  }
  if (refused.ok() && call.has_stream() &&
      call.stream().initial_credit() == 0) {
    refused = absl::InvalidArgumentError(
        "a streamed call needs stream.initial_credit of at least 1");
  }
  std::optional<SessionId> callee;
  if (refused.ok()) {
    callee = names_.OwnerOf(call.service());
    if (!callee) {
      if (const ActivatableService* service =
              activations_.Find(call.service())) {
        HoldCall(from, std::move(frame), call, *service,
                 now + CallTimeout(call.timeout_us()), now);
        return;
      }
      refused = absl::NotFoundError(
          Text("no connection owns service '", call.service(), "'"));
    }
  }
  if (!refused.ok()) {
    ++stats_.calls_refused;
    if (!monitors_.empty() && call.service() != kBrokerService) {
      MonitorCall(from, SessionId(), call, RequestId(), frame);
      MonitorAnswer(from.id, RequestId(), call.service(), call.method(),
                    refused);
    }
    Answer(from.id, caller_request_id, refused);
    return;
  }
  ForwardCall(from, std::move(frame), call, *callee,
              now + CallTimeout(call.timeout_us()));
}

void Router::ForwardCall(const Peer& from, wire::Frame frame,
                         const v1::Call& call, SessionId callee,
                         absl::Time deadline) {
  const RequestId caller_request_id(frame.request_id());
  absl::Status refused;
  if (calls_.CountForCallee(callee) >= config_.max_pending_calls) {
    refused = absl::ResourceExhaustedError(
        Text("service '", call.service(), "' (", callee, ") has ",
             config_.max_pending_calls,
             " unanswered calls, the broker's limit per connection"));
  }
  if (refused.ok() && !Fits(callee, frame.bytes().size())) {
    refused = absl::ResourceExhaustedError(
        Text("service '", call.service(), "' (", callee,
             ") is not keeping "
             "up: ",
             outbox_.QueuedBytes(callee), " bytes wait to be written to it"));
  }
  if (refused.ok()) {
    refused = CheckFds(frame, callee);
    if (!refused.ok()) ++stats_.buffers_refused;
  }
  if (!refused.ok()) {
    ++stats_.calls_refused;
    if (!monitors_.empty()) {
      MonitorCall(from, callee, call, RequestId(), frame);
      MonitorAnswer(from.id, RequestId(), call.service(), call.method(),
                    refused);
    }
    Answer(from.id, caller_request_id, refused);
    return;
  }
  std::optional<uint32_t> stream_credit;
  if (call.has_stream()) {
    stream_credit = call.stream().initial_credit();
    ++stats_.streams;
  }
  const RequestId id =
      calls_.Track(from.id, caller_request_id, callee, deadline, stream_credit);
  frame.set_request_id(id.value());
  StampSender(from, frame);
  ++stats_.calls_forwarded;
  if (!monitors_.empty()) MonitorCall(from, callee, call, id, frame);
  Deliver(callee, std::move(frame));
}

void Router::OnReply(const Peer& from, wire::Frame frame) {
  if ((frame.prefix().flags & wire::kFlagMore) != 0) {
    OnStreamReply(from, std::move(frame));
    return;
  }
  std::optional<PendingCall> call =
      calls_.TakeForReply(from.id, RequestId(frame.request_id()));
  if (!call) {
    ++stats_.late_replies;
    return;
  }
  absl::Status refused;
  if (!Fits(call->caller, frame.bytes().size())) {
    ++stats_.replies_over_quota;
    refused = absl::ResourceExhaustedError(Text(
        "the reply (", frame.bytes().size(),
        " bytes) does not fit "
        "this connection's output queue: ",
        outbox_.QueuedBytes(call->caller),
        " bytes wait to be read, the limit is ", config_.max_queued_bytes));
  } else if (refused = CheckFds(frame, call->caller); !refused.ok()) {
    // The reply and its descriptors are dropped here; the caller learns why.
    ++stats_.buffers_refused;
  }
  if (!refused.ok()) {
    if (!monitors_.empty()) {
      MonitorAnswer(call->caller, call->id, "", "", refused);
    }
    Answer(call->caller, call->caller_request_id, refused);
    return;
  }
  if (!monitors_.empty()) MonitorReply(from.id, call->id, frame);
  frame.set_request_id(call->caller_request_id.value());
  StampSender(from, frame);
  ++stats_.replies_forwarded;
  Deliver(call->caller, std::move(frame));
}

void Router::OnStreamReply(const Peer& from, wire::Frame frame) {
  const RequestId id(frame.request_id());
  PendingCall* pending = calls_.FindForReply(from.id, id);
  if (pending == nullptr) {
    // Also MORE replies still in flight when the caller cancelled.
    ++stats_.late_replies;
    return;
  }
  absl::Status refused;
  if (!pending->stream) {
    refused = absl::InternalError(
        Text(from.id,
             " sent a MORE reply to a call that did not ask for a "
             "stream"));
  } else if (pending->credit == 0) {
    refused = absl::ResourceExhaustedError(
        "the callee sent more replies than the caller's credit");
  } else if (!Fits(pending->caller, frame.bytes().size())) {
    ++stats_.replies_over_quota;
    refused = absl::ResourceExhaustedError(Text(
        "a streamed reply (", frame.bytes().size(),
        " bytes) does not fit this connection's output queue: ",
        outbox_.QueuedBytes(pending->caller),
        " bytes wait to be read, the limit is ", config_.max_queued_bytes));
  } else if (refused = CheckFds(frame, pending->caller); !refused.ok()) {
    ++stats_.buffers_refused;
  }
  if (!refused.ok()) {
    ++(pending->stream && pending->credit == 0 ? stats_.streams_overrun
                                               : stats_.streams_refused);
    EndCall(*calls_.TakeForReply(from.id, id), refused);
    return;
  }
  --pending->credit;
  if (!monitors_.empty()) MonitorReply(from.id, pending->id, frame);
  const SessionId caller = pending->caller;
  frame.set_request_id(pending->caller_request_id.value());
  StampSender(from, frame);
  ++stats_.stream_replies;
  Deliver(caller, std::move(frame));
}

void Router::OnCredit(const Peer& from, wire::Frame frame) {
  absl::StatusOr<v1::Header> header = frame.ParseHeaderAs(v1::Header::kCredit);
  if (!header.ok()) {
    CloseForProtocolError(from, header.status());
    return;
  }
  const uint32_t grant = header->credit().grant();
  constexpr uint32_t kMaxCredit = std::numeric_limits<uint32_t>::max();
  if (Monitor* monitor =
          monitors_.empty()
              ? nullptr
              : monitors_.Find(from.id, RequestId(frame.request_id()));
      monitor != nullptr) {
    monitor->credit = grant > kMaxCredit - monitor->credit
                          ? kMaxCredit
                          : monitor->credit + grant;
    return;
  }
  PendingCall* call =
      calls_.FindForCaller(from.id, RequestId(frame.request_id()));
  if (call == nullptr && grant != 0) {
    // A stream held until its service starts gets the grant once it is
    // forwarded, so both ends count the same credit.
    if (HeldCall* held =
            activations_.FindForCaller(from.id, RequestId(frame.request_id()));
        held != nullptr && held->call.has_stream()) {
      held->credits.push_back(std::move(frame));
      return;
    }
  }
  if (grant == 0 || call == nullptr || !call->stream) {
    ++stats_.credits_ignored;
    return;
  }
  call->credit =
      grant > kMaxCredit - call->credit ? kMaxCredit : call->credit + grant;
  const SessionId callee = call->callee;
  frame.set_request_id(call->id.value());
  StampSender(from, frame);
  ++stats_.credits_forwarded;
  Deliver(callee, std::move(frame));
}

void Router::OnCancel(const Peer& from, wire::Frame frame) {
  std::optional<PendingCall> call =
      calls_.TakeForCancel(from.id, RequestId(frame.request_id()));
  if (!call) {
    if (std::optional<HeldCall> held = activations_.TakeForCancel(
            from.id, RequestId(frame.request_id()))) {
      ++stats_.calls_cancelled;
      FailHeldCall(
          *held, absl::CancelledError("the call was cancelled by the caller"));
      return;
    }
    if (std::optional<Monitor> monitor =
            monitors_.Take(from.id, RequestId(frame.request_id()))) {
      EndMonitor(*monitor, absl::CancelledError(
                               "the monitor was cancelled by the caller"));
      return;
    }
    ++stats_.cancels_ignored;
    return;
  }
  ++stats_.calls_cancelled;
  if (!monitors_.empty()) {
    MonitorCancel(from, call->id);
    MonitorAnswer(from.id, call->id, "", "",
                  absl::CancelledError("the call was cancelled by the caller"));
  }
  Answer(from.id, call->caller_request_id,
         absl::CancelledError("the call was cancelled by the caller"));
  frame.set_request_id(call->id.value());
  StampSender(from, frame);
  Deliver(call->callee, std::move(frame));
}

void Router::OnPing(const Peer& from, const wire::Frame& frame) {
  ++stats_.pings;
  const RequestId id(frame.request_id());
  Answer(from.id, id, CheckRequestId(from.id, id));
}

std::optional<v1::Header> Router::AcceptRequest(const Peer& from,
                                                const wire::Frame& frame,
                                                v1::Header::BodyCase body) {
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

void Router::OnRegisterName(const Peer& from, const wire::Frame& frame) {
  std::optional<v1::Header> header =
      AcceptRequest(from, frame, v1::Header::kRegisterName);
  if (!header) return;
  const RequestId id(frame.request_id());
  const v1::RegisterName& claim = header->register_name();
  absl::StatusOr<v1::ServiceSchema> schema =
      SchemaRegistry::Parse(frame.payload());
  if (!schema.ok()) {
    Answer(from.id, id, schema.status());
    return;
  }
  // A claim the connection already holds keeps the schema it came with.
  const bool held = names_.Holds(from.id, claim.name());
  if (!held) {
    if (absl::Status s =
            schemas_.SetService(from.id, claim.name(), *std::move(schema));
        !s.ok()) {
      Answer(from.id, id, s);
      return;
    }
  }
  std::vector<NameEvent> events;
  std::vector<NameOwnerChange> owners;
  absl::StatusOr<NameRegistry::State> state =
      names_.Register(from.id, claim.name(), claim.flag(),
                      claim.allow_replacement(), &events, &owners);
  if (!state.ok()) {
    if (!held) schemas_.DropService(from.id, claim.name());
    Answer(from.id, id, state.status());
    return;
  }
  v1::RegisterNameResult result;
  result.set_state(*state);
  Deliver(from.id,
          BuildReply(id, absl::OkStatus(), result.SerializeAsString()));
  SendEvents(events);
  PublishOwnerChanges(owners);
  ReleaseHeldCalls(claim.name());
}

void Router::OnReleaseName(const Peer& from, const wire::Frame& frame) {
  std::optional<v1::Header> header =
      AcceptRequest(from, frame, v1::Header::kReleaseName);
  if (!header) return;
  const RequestId id(frame.request_id());
  std::vector<NameEvent> events;
  std::vector<NameOwnerChange> owners;
  const absl::Status released =
      names_.Release(from.id, header->release_name().name(), &events, &owners);
  if (released.ok()) {
    schemas_.DropService(from.id, header->release_name().name());
  }
  Answer(from.id, id, released);
  SendEvents(events);
  PublishOwnerChanges(owners);
}

void Router::OnError(const Peer& from, const wire::Frame& frame) {
  // A client may send ERROR before it closes; it needs no answer.
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  std::string what = "the client sent ERROR";
  if (header.ok() && header->body_case() == v1::Header::kError) {
    absl::StrAppend(&what, " ", header->error().code(), ": ",
                    header->error().message().substr(0, 200));
  }
  outbox_.Disconnect(from.id, absl::CancelledError(what));
}

void Router::SendEvents(const std::vector<NameEvent>& events) {
  for (const NameEvent& change : events) {
    v1::Event event;
    if (change.type == NameEvent::Type::kLost) {
      schemas_.DropService(change.session, change.name);
      v1::Event::NameLost* lost = event.mutable_name_lost();
      lost->set_name(change.name);
      lost->set_new_owner(change.new_owner.value());
    } else {
      event.mutable_name_acquired()->set_name(change.name);
    }
    Deliver(change.session, BuildEvent(event));
  }
}

std::optional<absl::Time> Router::NextDeadline() {
  std::optional<absl::Time> next = calls_.NextDeadline();
  for (std::optional<absl::Time> other :
       {monitors_.NextDeadline(), activations_.NextDeadline()}) {
    if (other && (!next || *other < *next)) next = other;
  }
  return next;
}

void Router::ExpireCalls(absl::Time now) {
  now_ = now;
  for (const Monitor& monitor : monitors_.TakeExpired(now)) {
    EndMonitor(monitor,
               absl::DeadlineExceededError("the monitor's deadline passed"));
  }
  for (const PendingCall& call : calls_.ExpireUntil(now)) {
    ++stats_.deadlines_exceeded;
    EndCall(call, absl::DeadlineExceededError(Text(
                      "no reply from ", call.callee, " before the deadline")));
  }
  for (const HeldCall& held : activations_.ExpireCalls(now)) {
    ++stats_.deadlines_exceeded;
    const ActivatableService* service = activations_.Find(held.call.service());
    FailHeldCall(
        held,
        absl::DeadlineExceededError(Text(
            "service '", held.call.service(),
            "' was being started and did not claim its name before "
            "the call's deadline",
            service == nullptr ? "" : Text(" (", service->Describe(), ")"))));
  }
  for (const Activations::Failure& failure :
       activations_.ExpireActivations(now)) {
    FailActivation(
        failure,
        Text(failure.service.Describe(), " did not claim the name within ",
             absl::FormatDuration(activations_.limits().timeout)));
  }
}

void Router::OnSessionOpened(const SessionInfo& info, absl::Time) {
  sessions_[info.peer.id] = info;
  PublishConnection(kTopicConnectionOpened, info, "");
}

void Router::ForgetSession(SessionId session, absl::string_view reason) {
  // Everything of the session goes before anything is published: the
  // publishing below may close other sessions, which re-enters here.
  std::optional<SessionInfo> info;
  if (auto node = sessions_.extract(session)) info = std::move(node.mapped());
  subscriptions_.ForgetSession(session);
  monitors_.ForgetSession(session);
  activations_.ForgetSession(session);
  schemas_.ForgetSession(session);
  std::vector<NameEvent> events;
  std::vector<NameOwnerChange> owners;
  names_.ForgetSession(session, &events, &owners);
  for (const PendingCall& call : calls_.ForgetSession(session)) {
    if (call.callee == session && call.caller != session) {
      ++stats_.calls_unavailable;
      const absl::Status gone = absl::UnavailableError(
          Text(session, " disconnected before replying"));
      if (!monitors_.empty()) MonitorAnswer(call.caller, call.id, "", "", gone);
      Answer(call.caller, call.caller_request_id, gone);
    } else if (call.caller == session && call.callee != session) {
      if (!monitors_.empty()) MonitorCancel(Peer{SessionId()}, call.id);
      Deliver(call.callee, BuildCancel(call.id));
    }
    // No final reply will come for it (the caller is gone, or it called
    // itself): the monitors no longer need to describe it.
    if (!monitors_.empty()) monitors_.ForgetCall(call.id);
  }
  SendEvents(events);
  PublishOwnerChanges(owners);
  if (info) PublishConnection(kTopicConnectionClosed, *info, reason);
}

void Router::FailAllCalls(const absl::Status& status) {
  for (const Monitor& monitor : monitors_.TakeAll()) {
    EndMonitor(monitor, status);
  }
  for (const PendingCall& call : calls_.TakeAll()) {
    ++stats_.calls_unavailable;
    Answer(call.caller, call.caller_request_id, status);
  }
  for (const HeldCall& held : activations_.TakeAll()) {
    ++stats_.calls_unavailable;
    Answer(held.from.id, held.caller_request_id, status);
  }
}

}  // namespace switchboard::core
