// SPDX-License-Identifier: MIT
//
// Client::Impl's serving: claiming and releasing names (ServedNames holds
// them), the name callback, and the dispatch thread's handling of incoming
// CALL frames, their replies, and the broker's name and shutdown events.
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/src/buffer_transport.h"
#include "client/src/client_impl.h"
#include "client/src/schema.h"
#include "switchboard/status_macros.h"

namespace switchboard {

// ---- names

absl::StatusOr<NameState> Client::Impl::Serve(Service service,
                                              const ServeOptions& options) {
  // Calls to the name are handled on the dispatch thread.
  SB_RETURN_IF_ERROR(NeedDispatch());
  const std::string name = service.name();
  // The schema lets tools describe and call the methods (PROTOCOL.md 5.1).
  std::string schema = client::BuildServiceSchema(service).SerializeAsString();
  {
    absl::MutexLock lock(&mu_);
    SB_RETURN_IF_ERROR(served_.Add(std::move(service), options));
    UpdateReadWatchLocked();
  }
  absl::StatusOr<Payload> reply =
      Request(wire::Kind::kRegisterName, RegisterNameHeader(name, options),
              Payload(std::move(schema)), kDefaultCallTimeout,
              /*is_call=*/false);
  v1::RegisterNameResult result;
  if (reply.ok() &&
      !result.ParseFromArray(reply->data(), static_cast<int>(reply->size()))) {
    reply = absl::InternalError("broker sent a malformed RegisterNameResult");
  }
  const bool queued = result.state() == v1::RegisterNameResult::STATE_QUEUED;
  absl::MutexLock lock(&mu_);
  if (!reply.ok()) {
    served_.Remove(name);
    UpdateReadWatchLocked();
    return reply.status();
  }
  served_.Confirm(name, queued);  // from now on restored after a reconnect
  return queued ? NameState::kQueued : NameState::kOwner;
}

v1::Header Client::Impl::RegisterNameHeader(const std::string& name,
                                            const ServeOptions& options) {
  v1::Header header;
  v1::RegisterName* request = header.mutable_register_name();
  request->set_name(name);
  switch (options.claim) {
    case NameClaim::kFailIfOwned:
      request->set_flag(v1::NAME_FLAG_FAIL_IF_OWNED);
      break;
    case NameClaim::kReplace:
      request->set_flag(v1::NAME_FLAG_REPLACE);
      break;
    case NameClaim::kQueue:
      request->set_flag(v1::NAME_FLAG_QUEUE);
      break;
  }
  request->set_allow_replacement(options.allow_replacement);
  return header;
}

absl::Status Client::Impl::Release(absl::string_view name) {
  {
    absl::MutexLock lock(&mu_);
    if (link_.state() == client::ConnectionLink::State::kDown) {
      // The broker forgot the name with the connection; only the restore
      // would claim it again.
      if (!served_.Remove(std::string(name))) {
        return absl::NotFoundError(
            absl::StrCat("this client does not serve ", name));
      }
      UpdateReadWatchLocked();
      return absl::OkStatus();
    }
  }
  v1::Header header;
  header.mutable_release_name()->set_name(std::string(name));
  absl::Status status = Request(wire::Kind::kReleaseName, header, Payload(),
                                kDefaultCallTimeout, /*is_call=*/false)
                            .status();
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    served_.Remove(std::string(name));
    UpdateReadWatchLocked();
  }
  return status;
}

void Client::Impl::OnNameChange(NameCallback callback) {
  NeedDispatch().IgnoreError();  // as in OnConnectionChange()
  absl::MutexLock lock(&mu_);
  name_callback_ = std::move(callback);
  UpdateReadWatchLocked();
}

// ---- the dispatch thread: calls and events

void Client::Impl::HandleCall(std::shared_ptr<const wire::Frame> frame,
                              std::vector<Fd> fds, uint64_t connection) {
  const uint64_t request_id = frame->request_id();
  const bool caller_accepts_fds =
      (frame->prefix().flags & wire::kFlagSenderAcceptsFds) != 0;
  // Parsed into a reused message: its strings keep their capacity, so a call
  // costs no allocations here. Only the dispatch thread runs HandleCall.
  absl::string_view header_bytes = frame->header_bytes();
  if (!call_header_.ParseFromArray(header_bytes.data(),
                                   static_cast<int>(header_bytes.size())) ||
      !call_header_.has_call()) {
    SendReply(request_id,
              absl::InvalidArgumentError("CALL frame without a call header"),
              "", caller_accepts_fds, connection);
    return;
  }
  const v1::Call& call = call_header_.call();
  std::shared_ptr<const Service> service;
  {
    absl::MutexLock lock(&mu_);
    service = served_.Find(call.service());
  }
  if (service == nullptr) {
    SendReply(
        request_id,
        absl::NotFoundError(absl::StrCat("connection :", connection_id(),
                                         " no longer serves ", call.service())),
        "", caller_accepts_fds, connection);
    return;
  }
  auto method = service->methods().find(call.method());
  if (method == service->methods().end()) {
    SendReply(
        request_id,
        absl::UnimplementedError(absl::StrCat(
            "service ", call.service(), " has no method ", call.method())),
        "", caller_accepts_fds, connection);
    return;
  }
  CallInfo info;
  info.service = call.service();
  info.method = call.method();
  info.request_type = call.request_type();
  info.caller = frame->prefix().sender;
  info.caller_uid = frame->prefix().sender_uid;
  info.caller_pid = frame->prefix().sender_pid;
  if (call.timeout_us() != 0) {
    info.deadline = absl::Now() + absl::Microseconds(call.timeout_us());
  }
  info.caller_accepts_fds = caller_accepts_fds;
  const Service::Method& handlers = method->second;
  if (handlers.stream_handler && !call.has_stream()) {
    SendReply(request_id,
              absl::FailedPreconditionError(absl::StrCat(
                  call.service(), "/", call.method(),
                  " is a stream method; call it with CallStream()")),
              "", caller_accepts_fds, connection);
    return;
  }
  info.initial_credit = call.stream().initial_credit();
  absl::StatusOr<Payload> request = client::ReceivedPayload(
      std::move(frame), std::move(fds), call_header_.inline_buffer_sizes());
  if (!request.ok()) {
    SendReply(request_id, request.status(), "", caller_accepts_fds, connection);
    return;
  }
  info.buffers = request->buffers();
  if (handlers.stream_handler) {
    StartStream(request_id, std::move(info), *std::move(request),
                std::move(service), handlers.stream_handler,
                client::TypeName(handlers.response), connection);
    return;
  }
  // A plain method called with `stream` answers as usual: its one REPLY is
  // the final one of a stream of no messages.
  SendReply(request_id, method->second.handler(info, *request),
            client::TypeName(method->second.response), caller_accepts_fds,
            connection);
}

void Client::Impl::SendReply(uint64_t request_id,
                             absl::StatusOr<Payload> result,
                             const std::string& response_type,
                             bool caller_accepts_fds, uint64_t connection,
                             bool defer) {
  std::string header_bytes;
  Payload payload;
  client::FrameWriter::Buffers buffers = client::FrameWriter::Buffers::kInline;
  if (result.ok()) {
    v1::Header header;
    v1::Reply* reply = header.mutable_reply();  // OK unless it says otherwise
    if (!response_type.empty()) reply->set_response_type(response_type);
    v1::Header inline_header;
    absl::StatusOr<client::FrameWriter::Buffers> planned = PlanBuffers(
        *result, caller_accepts_fds, header, "reply", inline_header);
    if (planned.ok()) {
      buffers = *planned;
      const bool inline_buffers =
          !result->buffers().empty() &&
          buffers == client::FrameWriter::Buffers::kInline;
      const v1::Header& to_send = inline_buffers ? inline_header : header;
      if (inline_buffers || !response_type.empty()) {
        header_bytes = to_send.SerializeAsString();
      }
      payload = *std::move(result);
    } else {
      result = planned.status();
    }
  }
  if (!result.ok()) {
    v1::Header header;
    header.mutable_reply()->set_code(
        static_cast<int32_t>(result.status().code()));
    header.mutable_reply()->set_message(std::string(result.status().message()));
    header_bytes = header.SerializeAsString();
  }
  const wire::Prefix prefix =
      PayloadPrefix(wire::Kind::kReply, request_id, payload, buffers);
  // Deferred on the dispatch thread, which writes it before it runs its
  // next task or sleeps (RunTask), so that replies ready together share a
  // write. If this fails the connection is gone and the broker answers the
  // caller.
  writer_
      .Send(wire::EncodeHead(prefix, header_bytes), std::move(payload), defer,
            buffers, connection)
      .IgnoreError();
  if (defer) output_held_ = true;
}

void Client::Impl::HandleEvent(const wire::Frame& frame) {
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  if (!header.ok() || !header->has_event()) return;
  const v1::Event& event = header->event();
  if (event.has_messages_dropped()) {
    HandleDrops(event.messages_dropped());
    return;
  }
  std::string name;
  bool owned = false;
  std::optional<std::string> shutting_down;
  {
    absl::MutexLock lock(&mu_);
    if (event.has_name_lost()) {
      name = event.name_lost().name();
      served_.Remove(name);
      UpdateReadWatchLocked();
    } else if (event.has_name_acquired()) {
      name = event.name_acquired().name();
      owned = true;
      served_.Acquired(name);
    } else if (event.has_shutting_down()) {
      shutting_down = event.shutting_down().reason();
    } else {
      return;
    }
  }
  if (shutting_down.has_value()) {
    // The broker closes the connection next; the reason is clearer than
    // the end of the stream that follows.
    FailAll(absl::UnavailableError(absl::StrCat(
        "the broker at ", address_, " is shutting down: ", *shutting_down)));
    return;
  }
  ReportName(name, owned);
}

void Client::Impl::ReportName(const std::string& name, bool owned) {
  NameCallback callback;
  {
    absl::MutexLock lock(&mu_);
    callback = name_callback_;
  }
  if (callback) callback(name, owned);
}

}  // namespace switchboard
