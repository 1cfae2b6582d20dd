// SPDX-License-Identifier: MIT
#include "tests/testing/topic_frames.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "wire/prefix.h"

namespace switchboard::testing {

v1::Header SubscribeHeader(uint64_t subscription_id, absl::string_view pattern,
                           uint32_t max_messages, v1::OverflowPolicy policy,
                           uint64_t max_bytes) {
  v1::Header header;
  v1::Subscribe* subscribe = header.mutable_subscribe();
  subscribe->set_subscription_id(subscription_id);
  subscribe->set_pattern(std::string(pattern));
  subscribe->set_max_messages(max_messages);
  subscribe->set_max_bytes(max_bytes);
  subscribe->set_policy(policy);
  return header;
}

v1::Header UnsubscribeHeader(uint64_t subscription_id) {
  v1::Header header;
  header.mutable_unsubscribe()->set_subscription_id(subscription_id);
  return header;
}

v1::Header PublishHeader(absl::string_view topic,
                         absl::string_view message_type) {
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  header.mutable_publish()->set_message_type(std::string(message_type));
  return header;
}

v1::Header CallHeader(absl::string_view service, absl::string_view method,
                      absl::Duration timeout, uint32_t initial_credit) {
  v1::Header header;
  v1::Call* call = header.mutable_call();
  call->set_service(std::string(service));
  call->set_method(std::string(method));
  call->set_timeout_us(
      static_cast<uint64_t>(absl::ToInt64Microseconds(timeout)));
  if (initial_credit > 0) {
    call->mutable_stream()->set_initial_credit(initial_credit);
  }
  return header;
}

v1::Header CreditHeader(uint32_t grant) {
  v1::Header header;
  header.mutable_credit()->set_grant(grant);
  return header;
}

v1::Header RegisterNameHeader(absl::string_view name) {
  v1::Header header;
  header.mutable_register_name()->set_name(std::string(name));
  return header;
}

v1::Header ReplyHeader(absl::StatusCode code, absl::string_view message) {
  v1::Header header;
  header.mutable_reply()->set_code(static_cast<int>(code));
  header.mutable_reply()->set_message(std::string(message));
  return header;
}

std::string EncodeFrameWithFlags(wire::Kind kind, uint16_t flags,
                                 uint64_t request_id, const v1::Header& header,
                                 absl::string_view payload) {
  std::string bytes = EncodeFrame(kind, request_id, header, payload);
  wire::StampFlags(bytes.data(), flags);
  return bytes;
}

absl::StatusOr<absl::Status> ReplyStatus(const wire::Frame& frame) {
  if (frame.kind() != wire::Kind::kReply) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a REPLY, got ", wire::KindName(frame.kind())));
  }
  if (frame.header_bytes().empty()) return absl::OkStatus();
  absl::StatusOr<v1::Header> header = frame.ParseHeader();
  if (!header.ok()) return header.status();
  if (header->body_case() == v1::Header::BODY_NOT_SET) return absl::OkStatus();
  if (!header->has_reply()) {
    return absl::InvalidArgumentError("a REPLY whose header is not a reply");
  }
  return absl::Status(static_cast<absl::StatusCode>(header->reply().code()),
                      header->reply().message());
}

absl::StatusOr<wire::Frame> ReadReply(RawConnection& connection,
                                      uint64_t request_id,
                                      absl::Duration timeout) {
  absl::StatusOr<wire::Frame> frame = connection.ReadFrame(timeout);
  if (!frame.ok()) return frame.status();
  if (frame->kind() != wire::Kind::kReply ||
      frame->request_id() != request_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("expected REPLY ", request_id, ", got ",
                     wire::KindName(frame->kind()), " ", frame->request_id()));
  }
  return frame;
}

absl::StatusOr<absl::Status> Request(RawConnection& connection, wire::Kind kind,
                                     uint64_t request_id,
                                     const v1::Header& header,
                                     absl::Duration timeout) {
  if (absl::Status sent = connection.SendFrame(kind, request_id, header);
      !sent.ok()) {
    return sent;
  }
  absl::StatusOr<wire::Frame> reply =
      ReadReply(connection, request_id, timeout);
  if (!reply.ok()) return reply.status();
  return ReplyStatus(*reply);
}

absl::StatusOr<RawConnection> ConnectRaw(
    absl::string_view address, absl::string_view token,
    const std::vector<std::string>& features) {
  absl::StatusOr<RawConnection> connection = RawConnection::Connect(address);
  if (!connection.ok()) return connection.status();
  absl::StatusOr<v1::Welcome> welcome =
      connection->Handshake(token, absl::Seconds(10), features);
  if (!welcome.ok()) return welcome.status();
  return connection;
}

absl::StatusOr<RawConnection> ConnectStalledSubscriber(
    absl::string_view address, absl::string_view token,
    absl::string_view pattern, uint64_t max_bytes) {
  absl::StatusOr<RawConnection> connection = ConnectRaw(address, token);
  if (!connection.ok()) return connection.status();
  absl::StatusOr<absl::Status> subscribed =
      Request(*connection, wire::Kind::kSubscribe, 1,
              SubscribeHeader(1, pattern, 65536,
                              v1::OVERFLOW_POLICY_DROP_OLDEST, max_bytes),
              absl::Seconds(10));
  if (!subscribed.ok()) return subscribed.status();
  if (!subscribed->ok()) return *subscribed;
  return connection;
}

}  // namespace switchboard::testing
