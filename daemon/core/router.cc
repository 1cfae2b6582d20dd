// SPDX-License-Identifier: MIT
#include "daemon/core/router.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "daemon/core/frames.h"
#include "daemon/core/names.h"

namespace switchboard::core {

Router::Router(const RouterConfig& config, Outbox& outbox,
               BufferCheck check_buffers)
    : context_(config, outbox, std::move(check_buffers)),
      monitor_hub_(context_),
      call_router_(context_, monitor_hub_),
      topic_router_(context_, monitor_hub_),
      broker_service_(context_, monitor_hub_, call_router_) {}

void Router::OnFrame(const Peer& from, wire::Frame frame, absl::Time now) {
  ++context_.stats.frames_in;
  context_.now = now;
  // What the frame makes the tables hold is charged to this uid.
  context_.accounts.Bind(from.id, from.uid);
  if ((frame.prefix().flags & wire::kFlagMore) != 0 &&
      frame.kind() != wire::Kind::kReply) {
    context_.CloseForProtocolError(
        from, absl::InvalidArgumentError(
                  absl::StrCat("flag MORE is allowed on REPLY only, not on ",
                               wire::KindName(frame.kind()))));
    return;
  }
  switch (frame.kind()) {
    case wire::Kind::kCall:
      if (std::optional<CallRouter::BrokerCall> broker =
              call_router_.OnCall(from, std::move(frame), now)) {
        broker_service_.OnCall(from, std::move(broker->frame), broker->call,
                               now);
      }
      return;
    case wire::Kind::kReply:
      call_router_.OnReply(from, std::move(frame));
      return;
    case wire::Kind::kCancel:
      call_router_.OnCancel(from, std::move(frame));
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
      call_router_.OnCredit(from, std::move(frame));
      return;
    case wire::Kind::kSubscribe:
      topic_router_.OnSubscribe(from, frame);
      return;
    case wire::Kind::kUnsubscribe:
      topic_router_.OnUnsubscribe(from, frame);
      return;
    case wire::Kind::kPublish:
      topic_router_.OnPublish(from, std::move(frame));
      return;
    case wire::Kind::kHello:
      context_.CloseForProtocolError(
          from,
          absl::InvalidArgumentError("HELLO sent twice on one connection"));
      return;
    case wire::Kind::kWelcome:
    case wire::Kind::kEvent:
    case wire::Kind::kMessage:
      context_.CloseForProtocolError(
          from, absl::InvalidArgumentError(
                    absl::StrCat("clients may not send ",
                                 wire::KindName(frame.kind()), " frames")));
      return;
  }
  // The decoder admits only the kinds above.
  context_.CloseForProtocolError(
      from, absl::InvalidArgumentError("unknown frame kind"));
}

void Router::OnPing(const Peer& from, const wire::Frame& frame) {
  ++context_.stats.pings;
  const RequestId id(frame.request_id());
  context_.Answer(from.id, id, context_.CheckRequestId(from.id, id));
}

void Router::OnRegisterName(const Peer& from, const wire::Frame& frame) {
  std::optional<v1::Header> header =
      context_.AcceptRequest(from, frame, v1::Header::kRegisterName);
  if (!header) return;
  const RequestId id(frame.request_id());
  if (absl::Status s = SchemaRegistry::CheckSize(frame.payload().size());
      !s.ok()) {
    context_.Answer(from.id, id, s);
    return;
  }
  // Parsing and building the schema may take a while, off the loop
  // (schema_checker.h); the session's later frames wait for the verdict.
  SchemaJob job = context_.schemas.MakeJob(from.id, SchemaJob::Kind::kService,
                                           frame.payload());
  context_.schema_checker->Start(
      from.id, std::move(job),
      [this, from, id, claim = header->register_name()](SchemaVerdict verdict) {
        FinishRegisterName(from, id, claim, std::move(verdict));
      });
}

void Router::FinishRegisterName(const Peer& from, RequestId id,
                                const v1::RegisterName& claim,
                                SchemaVerdict verdict) {
  // The session left while its schema was checked: nobody to answer.
  if (!context_.schemas.FinishJob(from.id, verdict.ticket)) return;
  if (!verdict.parsed.ok()) {
    context_.Answer(from.id, id, verdict.parsed);
    return;
  }
  // A claim the connection already holds keeps the schema it came with.
  const bool held = context_.names.Holds(from.id, claim.name());
  if (!held) {
    if (absl::Status s = context_.accounts.Check(from.id, Quota::kNames, 1);
        !s.ok()) {
      context_.Answer(from.id, id, s);
      return;
    }
    if (absl::Status s = context_.schemas.CommitService(from.id, claim.name(),
                                                        std::move(verdict));
        !s.ok()) {
      context_.Answer(from.id, id, s);
      return;
    }
  }
  std::vector<NameEvent> events;
  std::vector<NameOwnerChange> owners;
  absl::StatusOr<NameRegistry::State> state =
      context_.names.Register(from.id, claim.name(), claim.flag(),
                              claim.allow_replacement(), &events, &owners);
  if (!state.ok()) {
    if (!held) context_.schemas.DropService(from.id, claim.name());
    context_.Answer(from.id, id, state.status());
    return;
  }
  v1::RegisterNameResult result;
  result.set_state(*state);
  context_.Deliver(
      from.id, BuildReply(id, absl::OkStatus(), result.SerializeAsString()));
  SendEvents(events);
  topic_router_.PublishOwnerChanges(owners);
  call_router_.ReleaseHeldCalls(claim.name());
}

void Router::OnReleaseName(const Peer& from, const wire::Frame& frame) {
  std::optional<v1::Header> header =
      context_.AcceptRequest(from, frame, v1::Header::kReleaseName);
  if (!header) return;
  const RequestId id(frame.request_id());
  std::vector<NameEvent> events;
  std::vector<NameOwnerChange> owners;
  const absl::Status released = context_.names.Release(
      from.id, header->release_name().name(), &events, &owners);
  if (released.ok()) {
    context_.schemas.DropService(from.id, header->release_name().name());
  }
  context_.Answer(from.id, id, released);
  SendEvents(events);
  topic_router_.PublishOwnerChanges(owners);
}

void Router::OnError(const Peer& from, const wire::Frame& frame) {
  // A client may send ERROR before it closes; it needs no answer.
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  std::string what = "the client sent ERROR";
  if (header.ok() && header->body_case() == v1::Header::kError) {
    absl::StrAppend(&what, " ", header->error().code(), ": ",
                    header->error().message().substr(0, 200));
  }
  context_.outbox.Disconnect(from.id, absl::CancelledError(what));
}

void Router::SendEvents(const std::vector<NameEvent>& events) {
  for (const NameEvent& change : events) {
    v1::Event event;
    if (change.type == NameEvent::Type::kLost) {
      context_.schemas.DropService(change.session, change.name);
      v1::Event::NameLost* lost = event.mutable_name_lost();
      lost->set_name(change.name);
      lost->set_new_owner(change.new_owner.value());
    } else {
      event.mutable_name_acquired()->set_name(change.name);
    }
    context_.Deliver(change.session, BuildEvent(event));
  }
}

void Router::OnPublishRun(const Peer& from, wire::PublishRun run,
                          absl::Time now) {
  context_.stats.frames_in += run.count();
  context_.now = now;
  topic_router_.OnPublishRun(from, std::move(run));
}

std::optional<absl::Time> Router::NextDeadline() {
  std::optional<absl::Time> next = context_.calls.NextDeadline();
  for (std::optional<absl::Time> other :
       {context_.monitors.NextDeadline(),
        context_.activations.NextDeadline()}) {
    if (other && (!next || *other < *next)) next = other;
  }
  return next;
}

void Router::ExpireCalls(absl::Time now) {
  context_.now = now;
  monitor_hub_.ExpireMonitors(now);
  call_router_.ExpireCalls(now);
}

void Router::SampleTraffic(absl::Time now) {
  broker_service_.SampleTraffic(now);
}

void Router::OnSessionOpened(const SessionInfo& info, absl::Time) {
  context_.sessions[info.peer.id] = info;
  broker_service_.OnSessionOpened(info.peer.id);
  context_.accounts.Bind(info.peer.id, info.peer.uid);
  topic_router_.PublishConnection(kTopicConnectionOpened, info, "");
}

void Router::ForgetSession(SessionId session, absl::string_view reason) {
  // Everything of the session goes before anything is published.
  std::optional<SessionInfo> info;
  if (auto node = context_.sessions.extract(session)) {
    info = std::move(node.mapped());
  }
  broker_service_.OnSessionClosed(session);
  topic_router_.ForgetSession(session);
  monitor_hub_.ForgetSession(session);
  context_.schemas.ForgetSession(session);
  std::vector<NameEvent> events;
  std::vector<NameOwnerChange> owners;
  context_.names.ForgetSession(session, &events, &owners);
  call_router_.ForgetSession(session);
  // Every table has given back the session's share by now; anything left
  // is a refund missed (our bug), given back here all the same.
  if (!context_.accounts.ForgetSession(session).empty()) {
    ++context_.stats.uid_charges_left;
    SB_LOG(ERROR) << "session " << session
                  << " was forgotten with per-uid charges left";
  }
  SendEvents(events);
  topic_router_.PublishOwnerChanges(owners);
  if (info) {
    topic_router_.PublishConnection(kTopicConnectionClosed, *info, reason);
  }
}

void Router::FailAllCalls(const absl::Status& status) {
  monitor_hub_.EndAll(status);
  call_router_.FailAllCalls(status);
}

void Router::SetActivatableServices(std::vector<ActivatableService> services) {
  call_router_.SetActivatableServices(std::move(services));
}

void Router::OnActivationFailed(absl::string_view name, uint64_t attempt,
                                absl::string_view reason) {
  call_router_.OnActivationFailed(name, attempt, reason);
}

}  // namespace switchboard::core
