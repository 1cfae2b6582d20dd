// SPDX-License-Identifier: MIT
#include "daemon/core/frames.h"

namespace switchboard::core {
namespace {

wire::Prefix PrefixOf(wire::Kind kind, uint64_t request_id = 0) {
  wire::Prefix prefix;
  prefix.kind = kind;
  prefix.request_id = request_id;
  return prefix;
}

}  // namespace

wire::Frame BuildReply(RequestId request_id, const absl::Status& status,
                       absl::string_view payload) {
  const wire::Prefix prefix = PrefixOf(wire::Kind::kReply, request_id.value());
  if (status.ok())
    return wire::Frame::Build(prefix, absl::string_view(), payload);
  v1::Header header;
  v1::Reply* reply = header.mutable_reply();
  reply->set_code(static_cast<int32_t>(status.code()));
  reply->set_message(std::string(status.message()));
  return wire::Frame::Build(prefix, header, payload);
}

wire::Frame BuildEvent(const v1::Event& event) {
  v1::Header header;
  *header.mutable_event() = event;
  return wire::Frame::Build(PrefixOf(wire::Kind::kEvent), header);
}

wire::Frame BuildError(const absl::Status& status, absl::string_view limit_name,
                       uint64_t limit_value) {
  v1::Header header;
  v1::Error* error = header.mutable_error();
  error->set_code(static_cast<int32_t>(status.code()));
  error->set_message(std::string(status.message()));
  if (status.code() == absl::StatusCode::kUnimplemented) {
    error->add_supported_versions(wire::kProtocolVersion);
  }
  if (!limit_name.empty()) {
    error->set_limit_name(std::string(limit_name));
    error->set_limit_value(limit_value);
  }
  return wire::Frame::Build(PrefixOf(wire::Kind::kError), header);
}

wire::Frame BuildCancel(RequestId broker_request_id) {
  return wire::Frame::Build(
      PrefixOf(wire::Kind::kCancel, broker_request_id.value()),
      absl::string_view(), absl::string_view());
}

wire::Frame BuildBrokerMessage(absl::string_view topic,
                               absl::string_view message_type,
                               absl::string_view payload) {
  v1::Header header;
  header.mutable_publish()->set_topic(std::string(topic));
  header.mutable_publish()->set_message_type(std::string(message_type));
  return wire::Frame::Build(PrefixOf(wire::Kind::kMessage), header, payload);
}

wire::Frame BuildWelcome(SessionId session, const wire::Limits& limits,
                         bool fds) {
  v1::Header header;
  v1::Welcome* welcome = header.mutable_welcome();
  welcome->set_connection_id(session.value());
  welcome->set_max_payload_bytes(limits.max_payload_bytes);
  welcome->set_max_header_bytes(limits.max_header_bytes);
  welcome->set_max_fds_per_frame(limits.max_fds_per_frame);
  if (fds) welcome->add_features(std::string(kFeatureFds));
  welcome->set_broker_version(std::string(kBrokerVersion));
  return wire::Frame::Build(PrefixOf(wire::Kind::kWelcome), header);
}

}  // namespace switchboard::core
