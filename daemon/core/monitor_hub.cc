// SPDX-License-Identifier: MIT
#include "daemon/core/monitor_hub.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "wire/topic.h"

namespace switchboard::core {
namespace {

uint64_t UnixMicros(absl::Time time) {
  return static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(time)));
}

std::string Subject(absl::string_view service, absl::string_view method) {
  return absl::StrCat(service, ".", method);
}

}  // namespace

void MonitorHub::OnMonitorCall(const Peer& from, const wire::Frame& frame,
                               const v1::Call& call, absl::Time now) {
  const RequestId id(frame.request_id());
  v1::MonitorRequest request;
  absl::Status refused;
  if (!frame.fds().empty()) {
    refused = absl::InvalidArgumentError(
        absl::StrCat(kBrokerService, "/Monitor takes no descriptors"));
  } else if (!call.has_stream() || call.stream().initial_credit() == 0) {
    refused = absl::InvalidArgumentError(
        absl::StrCat(kBrokerService,
                     "/Monitor answers with a stream: call it with "
                     "stream.initial_credit of at least 1"));
  } else if (from.uid != context_.config.broker_uid && from.uid != 0) {
    refused = absl::PermissionDeniedError(absl::StrCat(
        "monitoring the bus is allowed only to the broker's user (uid ",
        context_.config.broker_uid, ") and root; this connection is uid ",
        from.uid));
  } else if (!request.ParseFromArray(
                 frame.payload().data(),
                 static_cast<int>(frame.payload().size()))) {
    refused = absl::InvalidArgumentError(
        "the request is not a switchboard.v1.MonitorRequest");
  } else if (!request.pattern().empty()) {
    refused = wire::ValidatePattern(request.pattern());
  }
  if (!refused.ok()) {
    ++context_.stats.calls_refused;
    context_.Answer(from.id, id, refused);
    return;
  }
  Monitor monitor;
  monitor.session = from.id;
  monitor.request_id = id;
  monitor.pattern = request.pattern();
  monitor.credit = call.stream().initial_credit();
  monitor.max_payload_bytes =
      request.max_payload_bytes() == 0
          ? kDefaultMonitorPayloadBytes
          : std::min<size_t>(request.max_payload_bytes(),
                             kMaxMonitorPayloadBytes);
  if (call.timeout_us() != 0)
    monitor.deadline = now + context_.CallTimeout(call.timeout_us());
  context_.monitors.Add(std::move(monitor));
}

bool MonitorHub::GrantCredit(SessionId from, RequestId id, uint32_t grant) {
  Monitor* monitor = context_.monitors.Find(from, id);
  if (monitor == nullptr) return false;
  constexpr uint32_t kMaxCredit = std::numeric_limits<uint32_t>::max();
  monitor->credit = grant > kMaxCredit - monitor->credit
                        ? kMaxCredit
                        : monitor->credit + grant;
  return true;
}

bool MonitorHub::Cancel(SessionId from, RequestId id) {
  std::optional<Monitor> monitor = context_.monitors.Take(from, id);
  if (!monitor) return false;
  EndMonitor(*monitor,
             absl::CancelledError("the monitor was cancelled by the caller"));
  return true;
}

void MonitorHub::ExpireMonitors(absl::Time now) {
  for (const Monitor& monitor : context_.monitors.TakeExpired(now)) {
    EndMonitor(monitor,
               absl::DeadlineExceededError("the monitor's deadline passed"));
  }
}

void MonitorHub::EndAll(const absl::Status& status) {
  for (const Monitor& monitor : context_.monitors.TakeAll()) {
    EndMonitor(monitor, status);
  }
}

void MonitorHub::EndMonitor(const Monitor& monitor,
                            const absl::Status& status) {
  context_.Answer(monitor.session, monitor.request_id, status);
}

std::string MonitorHub::NameOf(SessionId session) const {
  auto it = context_.sessions.find(session);
  return it == context_.sessions.end() ? std::string() : it->second.client_name;
}

void MonitorHub::DescribeCall(const Peer& from, SessionId to,
                              const v1::Call& call, RequestId id,
                              const wire::Frame& frame) {
  v1::MonitorEvent event;
  event.set_kind(v1::MonitorEvent::KIND_CALL);
  event.set_call_id(id.value());
  event.set_from(from.id.value());
  event.set_from_name(NameOf(from.id));
  event.set_to(to.value());
  event.set_to_name(NameOf(to));
  event.set_service(call.service());
  event.set_method(call.method());
  event.set_type(
      call.request_type().empty()
          ? context_.schemas.RequestTypeOf(to, call.service(), call.method())
          : call.request_type());
  event.set_buffers(static_cast<uint32_t>(frame.fds().size()));
  if (id.valid()) {
    context_.monitors.RememberCall(
        id, MonitoredCall{call.service(), call.method(),
                          context_.schemas.ResponseTypeOf(to, call.service(),
                                                          call.method()),
                          from.id, to});
  }
  EmitEvent(Subject(call.service(), call.method()), event, frame.payload());
}

void MonitorHub::DescribeReply(SessionId from, RequestId id,
                               const wire::Frame& frame) {
  const MonitoredCall* call = context_.monitors.FindCall(id);
  const bool more = (frame.prefix().flags & wire::kFlagMore) != 0;
  v1::MonitorEvent event;
  event.set_kind(more ? v1::MonitorEvent::KIND_STREAM_REPLY
                      : v1::MonitorEvent::KIND_REPLY);
  event.set_call_id(id.value());
  event.set_from(from.value());
  event.set_from_name(NameOf(from));
  if (!frame.header_bytes().empty()) {
    absl::StatusOr<v1::Header> header = frame.ParseHeader();
    if (header.ok() && header->has_reply()) {
      event.set_code(header->reply().code());
      event.set_status_message(header->reply().message());
      event.set_type(header->reply().response_type());
    }
  }
  std::string subject;
  if (call != nullptr) {
    event.set_to(call->caller.value());
    event.set_to_name(NameOf(call->caller));
    event.set_service(call->service);
    event.set_method(call->method);
    if (event.type().empty() && event.code() == 0) {
      event.set_type(call->response_type);
    }
    subject = Subject(call->service, call->method);
  }
  event.set_buffers(static_cast<uint32_t>(frame.fds().size()));
  EmitEvent(subject, event, frame.payload());
  if (!more) context_.monitors.ForgetCall(id);
}

void MonitorHub::DescribeAnswer(SessionId caller, RequestId id,
                                absl::string_view service,
                                absl::string_view method,
                                const absl::Status& status) {
  v1::MonitorEvent event;
  event.set_kind(v1::MonitorEvent::KIND_REPLY);
  event.set_call_id(id.value());
  event.set_to(caller.value());
  event.set_to_name(NameOf(caller));
  if (const MonitoredCall* call =
          id.valid() ? context_.monitors.FindCall(id) : nullptr;
      call != nullptr) {
    service = call->service;
    method = call->method;
  }
  event.set_service(std::string(service));
  event.set_method(std::string(method));
  event.set_code(static_cast<int32_t>(status.code()));
  event.set_status_message(std::string(status.message()));
  EmitEvent(Subject(service, method), event, "");
  if (id.valid()) context_.monitors.ForgetCall(id);
}

void MonitorHub::DescribeCancel(const Peer& from, RequestId id) {
  v1::MonitorEvent event;
  event.set_kind(v1::MonitorEvent::KIND_CANCEL);
  event.set_call_id(id.value());
  event.set_from(from.id.value());
  event.set_from_name(NameOf(from.id));
  std::string subject;
  if (const MonitoredCall* call = context_.monitors.FindCall(id)) {
    event.set_to(call->callee.value());
    event.set_to_name(NameOf(call->callee));
    event.set_service(call->service);
    event.set_method(call->method);
    subject = Subject(call->service, call->method);
  }
  EmitEvent(subject, event, "");
}

void MonitorHub::DescribePublish(const Peer& from, absl::string_view topic,
                                 const wire::Frame& frame, uint32_t delivered) {
  v1::MonitorEvent event;
  event.set_kind(v1::MonitorEvent::KIND_PUBLISH);
  event.set_from(from.id.value());
  event.set_from_name(NameOf(from.id));
  event.set_topic(std::string(topic));
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  if (header.ok() && header->has_publish()) {
    event.set_type(header->publish().message_type());
  }
  event.set_buffers(static_cast<uint32_t>(frame.fds().size()));
  event.set_delivered(delivered);
  EmitEvent(topic, event, frame.payload());
}

void MonitorHub::EmitEvent(absl::string_view subject, v1::MonitorEvent& event,
                           absl::string_view payload) {
  event.set_time_unix_us(
      UnixMicros(context_.now + context_.config.to_wall_clock));
  event.set_payload_size(payload.size());
  // An event without subject (a reply to a call forwarded before any
  // monitor ran) reaches only the monitors that watch everything.
  for (Monitor* monitor : subject.empty()
                              ? context_.monitors.Matching("")
                              : context_.monitors.Matching(subject)) {
    if (subject.empty() && !monitor->pattern.empty()) continue;
    event.set_payload(std::string(payload.substr(
        0, std::min(payload.size(), monitor->max_payload_bytes))));
    event.set_missed_before(monitor->missed);
    const std::string bytes = event.SerializeAsString();
    const size_t frame_bytes = wire::kPrefixBytes + bytes.size();
    if (monitor->credit == 0 || !context_.Fits(monitor->session, frame_bytes) ||
        !context_.outbox.CheckUidRoom(monitor->session, frame_bytes, 0).ok()) {
      ++monitor->missed;
      ++context_.stats.monitor_missed;
      continue;
    }
    monitor->missed = 0;
    --monitor->credit;
    wire::Frame frame =
        BuildReply(monitor->request_id, absl::OkStatus(), bytes);
    frame.set_flags(wire::kFlagMore);
    ++context_.stats.monitor_events;
    context_.Deliver(monitor->session, std::move(frame));
  }
}

}  // namespace switchboard::core
