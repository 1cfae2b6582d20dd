// SPDX-License-Identifier: MIT
//
// Client::Impl's streams (docs/PROTOCOL.md 5.4), both ends.
//
// Caller: CallStream() sends a CALL with stream{initial_credit = window} and
// hands back a ReplyStream whose Impl sits in the pending table; the thread
// that reads the socket pushes each MORE reply into it and ends it with the
// final REPLY (client_impl.cc, RouteReplyLocked). The stream reaches the
// connection only through its Link (CREDIT, CANCEL), which closes when it
// ends, and every pending stream is ended when the connection is.
//
// Callee: a CALL that asks for a stream of a stream method starts the
// handler on a thread of its own (RunningStreams) with a StreamWriter whose
// credit the reader feeds from CREDIT frames; its returned status becomes
// the final REPLY. MORE replies are written at once from that thread.
#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/src/client_impl.h"
#include "switchboard/status_macros.h"
#include "wire/topic.h"

namespace switchboard {
namespace {

// How long past a stream's timeout Next() waits for the broker's own
// DEADLINE_EXCEEDED before it gives up locally.
constexpr absl::Duration kStreamDeadlineGrace = absl::Seconds(2);

// PROTOCOL.md 5.1, checked here because a stream's errors otherwise surface
// only at the first Next(). A service name has the syntax of a topic.
absl::Status CheckCallNames(absl::string_view service,
                            absl::string_view method) {
  if (absl::Status s = wire::ValidateTopic(service); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed service name: ", s.message()));
  }
  const bool method_ok =
      !method.empty() && method.size() <= 255 &&
      std::all_of(method.begin(), method.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
               c == '-' || c == '.';
      });
  if (!method_ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed method name '", method,
                     "': 1 to 255 bytes of A-Z a-z 0-9 _ - ."));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplyStream>> Client::Impl::CallStream(
    absl::string_view service, absl::string_view method, Payload request,
    absl::string_view request_type, const StreamOptions& options) {
  if (options.window == 0) {
    return absl::InvalidArgumentError("a stream's window must be at least 1");
  }
  SB_RETURN_IF_ERROR(CheckCallNames(service, method));
  // The stream's messages arrive unasked, read by the dispatch thread.
  SB_RETURN_IF_ERROR(NeedDispatch());
  v1::Header header;
  v1::Call* call = header.mutable_call();
  call->set_service(std::string(service));
  call->set_method(std::string(method));
  call->set_timeout_us(TimeoutMicros(options.timeout));
  if (!request_type.empty()) call->set_request_type(std::string(request_type));
  call->mutable_stream()->set_initial_credit(options.window);

  // The request id is known once the CALL is started, before the caller can
  // take a message (and so before any CREDIT or CANCEL is sent).
  // Both belong to the connection the CALL went out on: after a reconnect
  // the stream has ended, and its CREDIT or CANCEL must not reach the new
  // connection.
  struct Sent {
    std::atomic<uint64_t> request_id{0};
    std::atomic<uint64_t> connection{0};
  };
  auto sent = std::make_shared<Sent>();
  ReplyStream::Impl::Link link;
  link.send_credit = [this, sent](uint32_t grant) {
    v1::Header credit;
    credit.mutable_credit()->set_grant(grant);
    // Best effort: if the connection is gone, the stream ends with it.
    SendFrame(wire::Kind::kCredit, sent->request_id.load(), credit, Payload(),
              client::FrameWriter::Buffers::kInline, /*defer=*/false,
              /*flags=*/0, sent->connection.load())
        .IgnoreError();
  };
  link.send_cancel = [this, sent] {
    SendCancel(sent->request_id.load(), sent->connection.load());
  };
  // In own-loop mode nobody delivers while the application waits in
  // Next(): it takes what Process() delivered.
  link.delivers_here = [this] { return own_loop_ || OnDispatchThread(); };
  const absl::Duration timeout =
      std::min(options.timeout, absl::Hours(24)) + kStreamDeadlineGrace;
  auto stream = std::make_shared<ReplyStream::Impl>(
      options.window, absl::Now() + timeout, std::move(link));

  Pending pending;
  pending.stream = stream;
  pending.is_call = true;
  SB_ASSIGN_OR_RETURN(Started started,
                      StartRequest(wire::Kind::kCall, header,
                                   std::move(request), std::move(pending),
                                   /*try_read=*/false, absl::Now() + timeout));
  sent->connection.store(started.connection);
  sent->request_id.store(started.request_id);
  return std::make_unique<ReplyStream>(std::move(stream));
}

void Client::Impl::StartStream(uint64_t request_id, CallInfo info,
                               Payload request,
                               std::shared_ptr<const Service> service,
                               const StreamHandler& handler,
                               const std::string& response_type,
                               uint64_t connection) {
  const bool caller_accepts_fds = info.caller_accepts_fds;
  // Every frame of the stream goes out on the connection its CALL came on:
  // after a reconnect, the same request id belongs to another call.
  auto writer = std::make_shared<StreamWriter::Impl>(
      info.initial_credit, info.deadline,
      [this, request_id, response_type, caller_accepts_fds,
       connection](Payload message) {
        return SendStreamMessage(request_id, std::move(message), response_type,
                                 caller_accepts_fds, connection);
      });
  // `handler` belongs to `service`, which the thread keeps alive.
  absl::Status started = streams_.Start(
      request_id, writer,
      [this, request_id, info = std::move(info), request = std::move(request),
       service = std::move(service), &handler, writer, caller_accepts_fds,
       connection] {
        StreamWriter out(writer);
        absl::Status status = handler(info, request, out);
        absl::StatusOr<Payload> final_reply = Payload();
        if (!status.ok()) final_reply = status;
        SendReply(request_id, std::move(final_reply), "", caller_accepts_fds,
                  connection, /*defer=*/false);
      });
  if (!started.ok()) {
    SendReply(request_id, started, "", caller_accepts_fds, connection);
  }
}

absl::Status Client::Impl::SendStreamMessage(uint64_t request_id,
                                             Payload message,
                                             const std::string& response_type,
                                             bool caller_accepts_fds,
                                             uint64_t connection) {
  v1::Header header;
  if (!response_type.empty()) {
    header.mutable_reply()->set_response_type(response_type);
  }
  v1::Header inline_header;
  SB_ASSIGN_OR_RETURN(client::FrameWriter::Buffers buffers,
                      PlanBuffers(message, caller_accepts_fds, header,
                                  "stream message", inline_header));
  const bool inline_buffers = !message.buffers().empty() &&
                              buffers == client::FrameWriter::Buffers::kInline;
  return SendFrame(wire::Kind::kReply, request_id,
                   inline_buffers ? inline_header : header, std::move(message),
                   buffers, /*defer=*/false, wire::kFlagMore, connection);
}

void Client::Impl::RouteStreamControlLocked(const wire::Frame& frame) {
  const uint64_t id = frame.request_id();
  if (frame.kind() == wire::Kind::kCancel) {
    const bool from_broker = frame.prefix().sender == 0;
    // The CALL may still wait for the dispatch thread, which starts its
    // handler: then the CANCEL follows it there, in order.
    if (!streams_.Cancel(id, from_broker)) {
      deferred_.push_back(
          [this, id, from_broker] { streams_.Cancel(id, from_broker); });
    }
    return;
  }
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  if (!header.ok() || !header->has_credit()) return;
  const uint32_t grant = header->credit().grant();
  if (!streams_.Grant(id, grant)) {
    deferred_.push_back([this, id, grant] { streams_.Grant(id, grant); });
  }
}

}  // namespace switchboard
