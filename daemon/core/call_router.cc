// SPDX-License-Identifier: MIT
#include "daemon/core/call_router.h"

#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "daemon/core/names.h"
#include "daemon/core/router_text.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::core {

std::optional<CallRouter::BrokerCall> CallRouter::OnCall(const Peer& from,
                                                         wire::Frame frame,
                                                         absl::Time now) {
  ++context_.stats.calls;
  absl::StatusOr<v1::Header> header = frame.ParseHeaderAs(v1::Header::kCall);
  if (!header.ok()) {
    context_.CloseForProtocolError(from, header.status());
    return std::nullopt;
  }
  const RequestId caller_request_id(frame.request_id());
  const v1::Call& call = header->call();
  absl::Status refused = context_.CheckRequestId(from.id, caller_request_id);
  if (refused.ok()) refused = ValidateServiceName(call.service());
  if (refused.ok()) refused = ValidateMethodName(call.method());
  if (refused.ok() && call.service() == kBrokerService) {
    return BrokerCall{std::move(frame), call};
  }
  if (refused.ok() && call.has_stream() &&
      call.stream().initial_credit() == 0) {
    refused = absl::InvalidArgumentError(
        "a streamed call needs stream.initial_credit of at least 1");
  }
  std::optional<SessionId> callee;
  if (refused.ok()) {
    callee = context_.names.OwnerOf(call.service());
    if (!callee) {
      if (const ActivatableService* service =
              context_.activations.Find(call.service())) {
        HoldCall(from, std::move(frame), call, *service,
                 now + context_.CallTimeout(call.timeout_us()), now);
        return std::nullopt;
      }
      refused = absl::NotFoundError(
          Text("no connection owns service '", call.service(), "'"));
    }
  }
  if (!refused.ok()) {
    ++context_.stats.calls_refused;
    if (monitors_.active() && call.service() != kBrokerService) {
      monitors_.DescribeCall(from, SessionId(), call, RequestId(), frame);
      monitors_.DescribeAnswer(from.id, RequestId(), call.service(),
                               call.method(), refused);
    }
    context_.Answer(from.id, caller_request_id, refused);
    return std::nullopt;
  }
  ForwardCall(from, std::move(frame), call, *callee,
              now + context_.CallTimeout(call.timeout_us()));
  return std::nullopt;
}

void CallRouter::ForwardCall(const Peer& from, wire::Frame frame,
                             const v1::Call& call, SessionId callee,
                             absl::Time deadline) {
  const RequestId caller_request_id(frame.request_id());
  // The caller, who chose to wait, pays for the call; the callee's own
  // limit keeps one busy service from collecting every caller's calls.
  absl::Status refused =
      context_.accounts.Check(from.id, Quota::kPendingCalls, 1);
  if (refused.ok() && context_.calls.CountForCallee(callee) >=
                          context_.config.max_pending_calls) {
    refused = absl::ResourceExhaustedError(
        Text("service '", call.service(), "' (", callee, ") has ",
             context_.config.max_pending_calls,
             " unanswered calls, the broker's limit per connection"));
  }
  if (refused.ok() && !context_.Fits(callee, frame.bytes().size())) {
    refused = absl::ResourceExhaustedError(
        Text("service '", call.service(), "' (", callee,
             ") is not keeping "
             "up: ",
             context_.outbox.QueuedBytes(callee),
             " bytes wait to be written to it"));
  }
  if (refused.ok()) {
    refused = context_.CheckFds(frame, callee);
    if (!refused.ok()) ++context_.stats.buffers_refused;
  }
  if (refused.ok()) {
    refused = context_.CheckUidRoom(
        callee, frame.bytes().size(), frame.fds().size(), [&] {
          return Text("service '", call.service(), "' (", callee,
                      ") cannot take the call");
        });
  }
  if (!refused.ok()) {
    ++context_.stats.calls_refused;
    if (monitors_.active()) {
      monitors_.DescribeCall(from, callee, call, RequestId(), frame);
      monitors_.DescribeAnswer(from.id, RequestId(), call.service(),
                               call.method(), refused);
    }
    context_.Answer(from.id, caller_request_id, refused);
    return;
  }
  std::optional<uint32_t> stream_credit;
  if (call.has_stream()) {
    stream_credit = call.stream().initial_credit();
    ++context_.stats.streams;
  }
  const RequestId id = context_.calls.Track(from.id, caller_request_id, callee,
                                            deadline, stream_credit);
  frame.set_request_id(id.value());
  context_.StampSender(from, frame);
  ++context_.stats.calls_forwarded;
  if (monitors_.active()) monitors_.DescribeCall(from, callee, call, id, frame);
  context_.Deliver(callee, std::move(frame));
}

void CallRouter::OnReply(const Peer& from, wire::Frame frame) {
  if ((frame.prefix().flags & wire::kFlagMore) != 0) {
    OnStreamReply(from, std::move(frame));
    return;
  }
  std::optional<PendingCall> call =
      context_.calls.TakeForReply(from.id, RequestId(frame.request_id()));
  if (!call) {
    ++context_.stats.late_replies;
    return;
  }
  absl::Status refused;
  if (!context_.Fits(call->caller, frame.bytes().size())) {
    ++context_.stats.replies_over_quota;
    refused = absl::ResourceExhaustedError(
        Text("the reply (", frame.bytes().size(),
             " bytes) does not fit "
             "this connection's output queue: ",
             context_.outbox.QueuedBytes(call->caller),
             " bytes wait to be read, the limit is ",
             context_.config.max_queued_bytes));
  } else if (refused = context_.CheckFds(frame, call->caller); !refused.ok()) {
    // The reply and its descriptors are dropped here; the caller learns why.
    ++context_.stats.buffers_refused;
  }
  if (refused.ok()) {
    refused = context_.CheckUidRoom(
        call->caller, frame.bytes().size(), frame.fds().size(), [&] {
          return Text("the reply (", frame.bytes().size(),
                      " bytes) does not fit");
        });
    if (!refused.ok()) ++context_.stats.replies_over_quota;
  }
  if (!refused.ok()) {
    if (monitors_.active()) {
      monitors_.DescribeAnswer(call->caller, call->id, "", "", refused);
    }
    context_.Answer(call->caller, call->caller_request_id, refused);
    return;
  }
  if (monitors_.active()) monitors_.DescribeReply(from.id, call->id, frame);
  frame.set_request_id(call->caller_request_id.value());
  context_.StampSender(from, frame);
  ++context_.stats.replies_forwarded;
  context_.Deliver(call->caller, std::move(frame));
}

void CallRouter::OnStreamReply(const Peer& from, wire::Frame frame) {
  const RequestId id(frame.request_id());
  PendingCall* pending = context_.calls.FindForReply(from.id, id);
  if (pending == nullptr) {
    // Also MORE replies still in flight when the caller cancelled.
    ++context_.stats.late_replies;
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
  } else if (!context_.Fits(pending->caller, frame.bytes().size())) {
    ++context_.stats.replies_over_quota;
    refused = absl::ResourceExhaustedError(
        Text("a streamed reply (", frame.bytes().size(),
             " bytes) does not fit this connection's output queue: ",
             context_.outbox.QueuedBytes(pending->caller),
             " bytes wait to be read, the limit is ",
             context_.config.max_queued_bytes));
  } else if (refused = context_.CheckFds(frame, pending->caller);
             !refused.ok()) {
    ++context_.stats.buffers_refused;
  }
  if (refused.ok()) {
    refused = context_.CheckUidRoom(
        pending->caller, frame.bytes().size(), frame.fds().size(), [&] {
          return Text("a streamed reply (", frame.bytes().size(),
                      " bytes) does not fit");
        });
    if (!refused.ok()) ++context_.stats.replies_over_quota;
  }
  if (!refused.ok()) {
    ++(pending->stream && pending->credit == 0
           ? context_.stats.streams_overrun
           : context_.stats.streams_refused);
    EndCall(*context_.calls.TakeForReply(from.id, id), refused);
    return;
  }
  --pending->credit;
  if (monitors_.active()) monitors_.DescribeReply(from.id, pending->id, frame);
  const SessionId caller = pending->caller;
  frame.set_request_id(pending->caller_request_id.value());
  context_.StampSender(from, frame);
  ++context_.stats.stream_replies;
  context_.Deliver(caller, std::move(frame));
}

void CallRouter::OnCredit(const Peer& from, wire::Frame frame) {
  absl::StatusOr<v1::Header> header = frame.ParseHeaderAs(v1::Header::kCredit);
  if (!header.ok()) {
    context_.CloseForProtocolError(from, header.status());
    return;
  }
  const uint32_t grant = header->credit().grant();
  if (monitors_.active() &&
      monitors_.GrantCredit(from.id, RequestId(frame.request_id()), grant)) {
    return;
  }
  PendingCall* call =
      context_.calls.FindForCaller(from.id, RequestId(frame.request_id()));
  if (call == nullptr && grant != 0) {
    // A stream held until its service starts gets the grant once it is
    // forwarded, so both ends count the same credit.
    if (HeldCall* held = context_.activations.FindForCaller(
            from.id, RequestId(frame.request_id()));
        held != nullptr && held->call.has_stream()) {
      held->credits.push_back(std::move(frame));
      return;
    }
  }
  if (grant == 0 || call == nullptr || !call->stream) {
    ++context_.stats.credits_ignored;
    return;
  }
  constexpr uint32_t kMaxCredit = std::numeric_limits<uint32_t>::max();
  call->credit =
      grant > kMaxCredit - call->credit ? kMaxCredit : call->credit + grant;
  const SessionId callee = call->callee;
  frame.set_request_id(call->id.value());
  context_.StampSender(from, frame);
  ++context_.stats.credits_forwarded;
  context_.Deliver(callee, std::move(frame));
}

void CallRouter::OnCancel(const Peer& from, wire::Frame frame) {
  std::optional<PendingCall> call =
      context_.calls.TakeForCancel(from.id, RequestId(frame.request_id()));
  if (!call) {
    if (std::optional<HeldCall> held = context_.activations.TakeForCancel(
            from.id, RequestId(frame.request_id()))) {
      ++context_.stats.calls_cancelled;
      FailHeldCall(
          *held, absl::CancelledError("the call was cancelled by the caller"));
      return;
    }
    if (monitors_.Cancel(from.id, RequestId(frame.request_id()))) return;
    ++context_.stats.cancels_ignored;
    return;
  }
  ++context_.stats.calls_cancelled;
  if (monitors_.active()) {
    monitors_.DescribeCancel(from, call->id);
    monitors_.DescribeAnswer(
        from.id, call->id, "", "",
        absl::CancelledError("the call was cancelled by the caller"));
  }
  context_.Answer(from.id, call->caller_request_id,
                  absl::CancelledError("the call was cancelled by the caller"));
  frame.set_request_id(call->id.value());
  context_.StampSender(from, frame);
  context_.Deliver(call->callee, std::move(frame));
}

void CallRouter::EndCall(const PendingCall& call, const absl::Status& status) {
  if (monitors_.active())
    monitors_.DescribeAnswer(call.caller, call.id, "", "", status);
  context_.Answer(call.caller, call.caller_request_id, status);
  context_.Deliver(call.callee, BuildCancel(call.id));
}

void CallRouter::ExpireCalls(absl::Time now) {
  for (const PendingCall& call : context_.calls.ExpireUntil(now)) {
    ++context_.stats.deadlines_exceeded;
    EndCall(call, absl::DeadlineExceededError(Text(
                      "no reply from ", call.callee, " before the deadline")));
  }
  for (const HeldCall& held : context_.activations.ExpireCalls(now)) {
    ++context_.stats.deadlines_exceeded;
    const ActivatableService* service =
        context_.activations.Find(held.call.service());
    FailHeldCall(
        held,
        absl::DeadlineExceededError(Text(
            "service '", held.call.service(),
            "' was being started and did not claim its name before "
            "the call's deadline",
            service == nullptr ? "" : Text(" (", service->Describe(), ")"))));
  }
  for (const Activations::Failure& failure :
       context_.activations.ExpireActivations(now)) {
    FailActivation(
        failure,
        Text(failure.service.Describe(), " did not claim the name within ",
             absl::FormatDuration(context_.activations.limits().timeout)));
  }
}

void CallRouter::ForgetSession(SessionId session) {
  context_.activations.ForgetSession(session);
  for (const PendingCall& call : context_.calls.ForgetSession(session)) {
    if (call.callee == session && call.caller != session) {
      ++context_.stats.calls_unavailable;
      const absl::Status gone = absl::UnavailableError(
          Text(session, " disconnected before replying"));
      if (monitors_.active()) {
        monitors_.DescribeAnswer(call.caller, call.id, "", "", gone);
      }
      context_.Answer(call.caller, call.caller_request_id, gone);
    } else if (call.caller == session && call.callee != session) {
      if (monitors_.active()) {
        monitors_.DescribeCancel(Peer{SessionId()}, call.id);
      }
      context_.Deliver(call.callee, BuildCancel(call.id));
    }
    // No final reply will come for it (the caller is gone, or it called
    // itself): the monitors no longer need to describe it.
    if (monitors_.active()) monitors_.ForgetCall(call.id);
  }
}

void CallRouter::FailAllCalls(const absl::Status& status) {
  for (const PendingCall& call : context_.calls.TakeAll()) {
    ++context_.stats.calls_unavailable;
    context_.Answer(call.caller, call.caller_request_id, status);
  }
  for (const HeldCall& held : context_.activations.TakeAll()) {
    ++context_.stats.calls_unavailable;
    context_.Answer(held.from.id, held.caller_request_id, status);
  }
}

void CallRouter::HoldCall(const Peer& from, wire::Frame frame,
                          const v1::Call& call,
                          const ActivatableService& service,
                          absl::Time deadline, absl::Time now,
                          bool start_only) {
  const RequestId caller_request_id(frame.request_id());
  absl::StatusOr<std::optional<uint64_t>> attempt =
      context_.activations.Hold(service,
                                HeldCall{from,
                                         caller_request_id,
                                         deadline,
                                         call,
                                         std::move(frame),
                                         {},
                                         start_only},
                                now);
  if (!attempt.ok()) {
    ++context_.stats.calls_refused;
    if (monitors_.active()) {
      monitors_.DescribeAnswer(from.id, RequestId(), call.service(),
                               call.method(), attempt.status());
    }
    context_.Answer(from.id, caller_request_id, attempt.status());
    return;
  }
  ++context_.stats.calls_held;
  if (!attempt->has_value()) return;
  ++context_.stats.activations;
  const absl::Status started =
      start_activation_
          ? start_activation_(service, **attempt)
          : absl::FailedPreconditionError("this broker starts no programs");
  if (!started.ok()) {
    OnActivationFailed(service.name, **attempt, started.message());
  }
}

void CallRouter::ReleaseHeldCalls(absl::string_view name) {
  if (!context_.activations.Activating(name)) return;
  const std::optional<SessionId> owner = context_.names.OwnerOf(name);
  if (!owner) return;
  for (HeldCall& held : context_.activations.TakeClaimed(name)) {
    const Peer from = held.from;
    const RequestId caller_request_id = held.caller_request_id;
    if (held.start_only) {
      v1::StartServiceResult result;
      result.set_owner(owner->value());
      context_.Deliver(from.id, BuildReply(caller_request_id, absl::OkStatus(),
                                           result.SerializeAsString()));
      continue;
    }
    ForwardCall(from, std::move(held.frame), held.call, *owner, held.deadline);
    if (!context_.calls.IsPending(from.id, caller_request_id)) continue;
    for (wire::Frame& credit : held.credits) OnCredit(from, std::move(credit));
  }
}

void CallRouter::FailHeldCall(const HeldCall& held,
                              const absl::Status& status) {
  if (monitors_.active()) {
    monitors_.DescribeAnswer(held.from.id, RequestId(), held.call.service(),
                             held.call.method(), status);
  }
  context_.Answer(held.from.id, held.caller_request_id, status);
}

void CallRouter::FailActivation(const Activations::Failure& failure,
                                absl::string_view reason) {
  ++context_.stats.activations_failed;
  const absl::Status status = absl::UnavailableError(absl::StrCat(
      "activation of ", failure.service.name, " failed: ", reason));
  for (const HeldCall& held : failure.calls) {
    ++context_.stats.calls_unavailable;
    FailHeldCall(held, status);
  }
}

void CallRouter::OnActivationFailed(absl::string_view name, uint64_t attempt,
                                    absl::string_view reason) {
  if (std::optional<Activations::Failure> failure =
          context_.activations.Fail(name, attempt)) {
    FailActivation(*failure, reason);
  }
}

}  // namespace switchboard::core
