// SPDX-License-Identifier: MIT
//
// The broker's own service, switchboard.Broker (docs/PROTOCOL.md 5.6): CALLs
// to it are answered by the router itself from its tables and counters.
// Monitor, the one streamed method, is in router_monitor.cc.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "daemon/core/frames.h"
#include "daemon/core/names.h"
#include "daemon/core/router.h"

namespace switchboard::core {
namespace {

template <typename Request>
absl::StatusOr<Request> ParseRequest(absl::string_view bytes) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request is not a ", Request::descriptor()->full_name()));
  }
  return request;
}

double PerSecond(uint64_t now, uint64_t before, absl::Duration elapsed) {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  if (seconds <= 0 || now < before) return 0;
  return static_cast<double>(now - before) / seconds;
}

uint64_t UnixMicros(absl::Time time) {
  return static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(time)));
}

}  // namespace

void Router::OnBrokerCall(const Peer& from, wire::Frame& frame,
                          const v1::Call& call, absl::Time now) {
  ++stats_.status_requests;
  const RequestId id(frame.request_id());
  if (call.method() == kMonitorMethod) {
    OnMonitorCall(from, frame, call, now);
    return;
  }
  if (call.method() == kStartServiceMethod && frame.fds().empty() &&
      !call.has_stream()) {
    OnStartService(from, std::move(frame), call, now);
    return;
  }
  absl::StatusOr<std::string> reply;
  if (!frame.fds().empty() || call.has_stream()) {
    reply = absl::InvalidArgumentError(
        absl::StrCat("calls to ", kBrokerService, "/", call.method(),
                     " may not carry descriptors or ask for a stream"));
  } else {
    reply = AnswerBrokerCall(from, call.method(), frame.payload(), now);
  }
  if (!reply.ok()) {
    ++stats_.calls_refused;
    Answer(from.id, id, reply.status());
    return;
  }
  if (!Fits(from.id, wire::kPrefixBytes + reply->size())) {
    ++stats_.replies_over_quota;
    Answer(from.id, id,
           absl::ResourceExhaustedError(absl::StrCat(
               "the reply (", reply->size(),
               " bytes) does not fit this connection's output queue: ",
               outbox_.QueuedBytes(from.id), " bytes wait to be read")));
    return;
  }
  Deliver(from.id, BuildReply(id, absl::OkStatus(), *reply));
}

void Router::OnStartService(const Peer& from, wire::Frame frame,
                            const v1::Call& call, absl::Time now) {
  const RequestId id(frame.request_id());
  absl::StatusOr<v1::StartServiceRequest> request =
      ParseRequest<v1::StartServiceRequest>(frame.payload());
  absl::Status refused = request.status();
  if (refused.ok()) refused = ValidateServiceName(request->name());
  if (!refused.ok()) {
    ++stats_.calls_refused;
    Answer(from.id, id, refused);
    return;
  }
  if (const std::optional<SessionId> owner = names_.OwnerOf(request->name())) {
    v1::StartServiceResult result;
    result.set_owner(owner->value());
    Deliver(from.id,
            BuildReply(id, absl::OkStatus(), result.SerializeAsString()));
    return;
  }
  const ActivatableService* service = activations_.Find(request->name());
  if (service == nullptr) {
    ++stats_.calls_refused;
    Answer(from.id, id,
           absl::NotFoundError(absl::StrCat("no connection owns service '",
                                            request->name(),
                                            "' and no activation file "
                                            "describes it")));
    return;
  }
  // Held under the name it starts, so that claiming the name answers it.
  v1::Call held = call;
  held.set_service(request->name());
  HoldCall(from, std::move(frame), held, *service,
           now + CallTimeout(call.timeout_us()), now, /*start_only=*/true);
}

absl::StatusOr<std::string> Router::AnswerBrokerCall(const Peer& from,
                                                     absl::string_view method,
                                                     absl::string_view request,
                                                     absl::Time now) {
  if (method == kGetStatusMethod) {
    absl::StatusOr<v1::GetStatusRequest> parsed =
        ParseRequest<v1::GetStatusRequest>(request);
    if (!parsed.ok()) return parsed.status();
    return Status(now).SerializeAsString();
  }
  if (method == kListNamesMethod) {
    absl::StatusOr<v1::ListNamesRequest> parsed =
        ParseRequest<v1::ListNamesRequest>(request);
    if (!parsed.ok()) return parsed.status();
    return ListNames().SerializeAsString();
  }
  if (method == kListConnectionsMethod) {
    absl::StatusOr<v1::ListConnectionsRequest> parsed =
        ParseRequest<v1::ListConnectionsRequest>(request);
    if (!parsed.ok()) return parsed.status();
    return ListConnections().SerializeAsString();
  }
  if (method == kDescribeMethod) {
    absl::StatusOr<v1::DescribeRequest> parsed =
        ParseRequest<v1::DescribeRequest>(request);
    if (!parsed.ok()) return parsed.status();
    absl::StatusOr<v1::Description> description = Describe(*parsed, from.id);
    if (!description.ok()) return description.status();
    return description->SerializeAsString();
  }
  if (method == kRegisterTypesMethod) {
    absl::StatusOr<v1::RegisterTypesRequest> parsed =
        ParseRequest<v1::RegisterTypesRequest>(request);
    if (!parsed.ok()) return parsed.status();
    if (absl::Status s = schemas_.AddTypes(from.id, parsed->files()); !s.ok()) {
      return s;
    }
    return v1::RegisterTypesResult().SerializeAsString();
  }
  return absl::UnimplementedError(
      absl::StrCat(kBrokerService, " has no method '", method,
                   "' (it has GetStatus, ListNames, ListConnections, Describe, "
                   "RegisterTypes, StartService and Monitor)"));
}

v1::NameList Router::ListNames() const {
  v1::NameList list;
  for (const std::string& name : names_.Names()) {
    const std::optional<SessionId> owner = names_.OwnerOf(name);
    if (!owner) continue;
    v1::NameInfo* out = list.add_names();
    out->set_name(name);
    out->set_owner(owner->value());
    if (auto it = sessions_.find(*owner); it != sessions_.end()) {
      out->set_owner_name(it->second.client_name);
      out->set_uid(it->second.peer.uid);
      out->set_pid(it->second.peer.pid);
      out->set_exe(it->second.exe);
    }
    for (v1::MethodSchema& method : schemas_.MethodsOf(*owner, name)) {
      *out->add_methods() = std::move(method);
    }
    out->set_queued(static_cast<uint32_t>(names_.QueueOf(name).size()));
    out->set_activatable(activations_.Find(name) != nullptr);
  }
  for (const auto& [name, service] : activations_.services()) {
    v1::ActivatableName* out = list.add_activatable();
    out->set_name(name);
    for (const std::string& arg : service.command) out->add_command(arg);
    out->set_systemd_unit(service.systemd_unit);
    out->set_file(service.file);
    out->set_owner(names_.OwnerOf(name).value_or(SessionId()).value());
    out->set_activating(activations_.Activating(name));
    out->set_held_calls(static_cast<uint32_t>(activations_.HeldFor(name)));
  }
  return list;
}

v1::ConnectionList Router::ListConnections() const {
  std::vector<SessionId> ids;
  ids.reserve(sessions_.size());
  for (const auto& [id, info] : sessions_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  // One pass over the subscriptions rather than one per connection.
  absl::flat_hash_map<SessionId, std::pair<uint32_t, uint64_t>> subscribed;
  for (const Subscription* subscription : subscriptions_.All()) {
    auto& [count, dropped] = subscribed[subscription->key.session];
    ++count;
    dropped += subscription->dropped;
  }
  v1::ConnectionList list;
  for (SessionId id : ids) {
    const SessionInfo& info = sessions_.at(id);
    v1::ConnectionInfo* out = list.add_connections();
    out->set_connection_id(id.value());
    out->set_client_name(info.client_name);
    out->set_uid(info.peer.uid);
    out->set_pid(info.peer.pid);
    out->set_exe(info.exe);
    out->set_transport(info.transport);
    out->set_connected_unix_us(UnixMicros(info.connected));
    const Traffic traffic = outbox_.SessionTraffic(id);
    out->set_frames_in(traffic.frames_in);
    out->set_frames_out(traffic.frames_out);
    out->set_bytes_in(traffic.bytes_in);
    out->set_bytes_out(traffic.bytes_out);
    out->set_queued_bytes(outbox_.QueuedBytes(id));
    out->set_queued_fds(outbox_.QueuedFds(id));
    std::vector<std::string> owned = names_.NamesOwnedBy(id);
    std::sort(owned.begin(), owned.end());
    for (std::string& name : owned) out->add_names(std::move(name));
    if (auto it = subscribed.find(id); it != subscribed.end()) {
      out->set_subscriptions(it->second.first);
      out->set_messages_dropped(it->second.second);
    }
    // A running monitor is a call that waits for its final reply too.
    out->set_calls_waiting(static_cast<uint32_t>(calls_.CountForCaller(id) +
                                                 monitors_.CountFor(id)));
    out->set_calls_serving(static_cast<uint32_t>(calls_.CountForCallee(id)));
  }
  return list;
}

absl::StatusOr<v1::Description> Router::Describe(
    const v1::DescribeRequest& request, SessionId asker) const {
  if (request.name().empty() == request.type().empty()) {
    return absl::InvalidArgumentError(
        "Describe takes exactly one of 'name' and 'type'");
  }
  v1::Description description;
  if (!request.type().empty()) {
    std::optional<google::protobuf::FileDescriptorSet> files =
        schemas_.FilesDefining(request.type(), asker);
    if (!files) {
      return absl::NotFoundError(absl::StrCat(
          "no connection's schema defines type '", request.type(), "'"));
    }
    *description.mutable_files() = *std::move(files);
    return description;
  }
  if (request.name() == kBrokerService) {
    return absl::InvalidArgumentError(
        absl::StrCat(kBrokerService,
                     " is the broker itself; its types are in "
                     "switchboard/v1/broker.proto"));
  }
  const std::optional<SessionId> owner = names_.OwnerOf(request.name());
  if (!owner) {
    return absl::NotFoundError(
        absl::StrCat("no connection owns service '", request.name(), "'"));
  }
  description.set_name(request.name());
  description.set_owner(owner->value());
  for (v1::MethodSchema& method : schemas_.MethodsOf(*owner, request.name())) {
    *description.add_methods() = std::move(method);
  }
  *description.mutable_files() = schemas_.FilesOf(*owner, request.name());
  return description;
}

void Router::SampleTraffic(absl::Time now) {
  previous_sample_ = last_sample_;
  last_sample_ = TrafficSample{now, outbox_.TotalTraffic()};
}

v1::BrokerStatus Router::Status(absl::Time now) const {
  v1::BrokerStatus status;
  status.set_version(config_.broker_version.empty()
                         ? std::string(kBrokerVersion)
                         : config_.broker_version);
  status.set_uptime_us(static_cast<uint64_t>(
      std::max<int64_t>(0, absl::ToInt64Microseconds(now - config_.started))));
  for (const std::string& address : config_.addresses) {
    status.add_addresses(address);
  }
  status.set_pid(config_.broker_pid);
  status.set_uid(config_.broker_uid);
  status.set_connections(sessions_.size());
  status.set_names(names_.name_count());
  const Traffic traffic = outbox_.TotalTraffic();
  status.set_frames_in(traffic.frames_in);
  status.set_frames_out(traffic.frames_out);
  status.set_bytes_in(traffic.bytes_in);
  status.set_bytes_out(traffic.bytes_out);
  if (previous_sample_.at != absl::InfinitePast()) {
    const absl::Duration elapsed = last_sample_.at - previous_sample_.at;
    const Traffic& a = previous_sample_.traffic;
    const Traffic& b = last_sample_.traffic;
    status.set_frames_in_per_s(PerSecond(b.frames_in, a.frames_in, elapsed));
    status.set_frames_out_per_s(PerSecond(b.frames_out, a.frames_out, elapsed));
    status.set_bytes_in_per_s(PerSecond(b.bytes_in, a.bytes_in, elapsed));
    status.set_bytes_out_per_s(PerSecond(b.bytes_out, a.bytes_out, elapsed));
  }
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
