// SPDX-License-Identifier: MIT
#include "daemon/core/broker_service.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "daemon/core/frames.h"
#include "daemon/core/names.h"
#include "switchboard/status_macros.h"

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

// A request's page_size as the page's entry limit.
size_t PageSize(uint32_t requested) {
  if (requested == 0) return BrokerService::kDefaultPageSize;
  return std::min<size_t>(requested, BrokerService::kMaxPageSize);
}

absl::Status BadToken(absl::string_view method, absl::string_view token) {
  constexpr size_t kShown = 80;
  return absl::InvalidArgumentError(absl::StrCat(
      "page_token \"", absl::CHexEscape(token.substr(0, kShown)),
      token.size() > kShown ? "..." : "", "\" is not one ", method,
      " gave; pass back a next_page_token unchanged, or an empty one for "
      "the first page"));
}

// Where a ListNames page starts: after `after` among the owned names, or
// among the activatable ones (which follow all the owned names). The token
// is "owned:NAME" or "activatable:NAME", NAME being the last one listed
// (empty: from the first); a name gone since is no obstacle, the page
// starts at the next one in order.
struct NamesCursor {
  bool activatable = false;
  std::string after;
};

constexpr absl::string_view kOwnedPrefix = "owned:";
constexpr absl::string_view kActivatablePrefix = "activatable:";

absl::StatusOr<NamesCursor> ParseNamesToken(absl::string_view token) {
  NamesCursor cursor;
  if (token.empty()) return cursor;
  if (absl::ConsumePrefix(&token, kActivatablePrefix)) {
    cursor.activatable = true;
  } else if (!absl::ConsumePrefix(&token, kOwnedPrefix)) {
    return BadToken(kListNamesMethod, token);
  }
  if (!token.empty() && !ValidateServiceName(token).ok()) {
    return BadToken(kListNamesMethod, token);
  }
  cursor.after = std::string(token);
  return cursor;
}

std::string NamesToken(const NamesCursor& cursor) {
  return absl::StrCat(cursor.activatable ? kActivatablePrefix : kOwnedPrefix,
                      cursor.after);
}

}  // namespace

void BrokerService::OnCall(const Peer& from, wire::Frame frame,
                           const v1::Call& call, absl::Time now) {
  ++context_.stats.status_requests;
  const RequestId id(frame.request_id());
  if (call.method() == kMonitorMethod) {
    monitors_.OnMonitorCall(from, frame, call, now);
    return;
  }
  if (call.method() == kStartServiceMethod && frame.fds().empty() &&
      !call.has_stream()) {
    OnStartService(from, std::move(frame), call, now);
    return;
  }
  if (call.method() == kRegisterTypesMethod && frame.fds().empty() &&
      !call.has_stream()) {
    OnRegisterTypes(from, frame);
    return;
  }
  absl::StatusOr<std::string> reply;
  if (!frame.fds().empty() || call.has_stream()) {
    reply = absl::InvalidArgumentError(
        absl::StrCat("calls to ", kBrokerService, "/", call.method(),
                     " may not carry descriptors or ask for a stream"));
  } else {
    reply = Answer(from, call.method(), frame.payload(), now);
  }
  if (!reply.ok()) {
    ++context_.stats.calls_refused;
    context_.Answer(from.id, id, reply.status());
    return;
  }
  if (!context_.Fits(from.id, wire::kPrefixBytes + reply->size())) {
    ++context_.stats.replies_over_quota;
    context_.Answer(
        from.id, id,
        absl::ResourceExhaustedError(absl::StrCat(
            "the reply (", reply->size(),
            " bytes) does not fit this connection's output queue: ",
            context_.outbox.QueuedBytes(from.id), " bytes wait to be read")));
    return;
  }
  context_.Deliver(from.id, BuildReply(id, absl::OkStatus(), *reply));
}

void BrokerService::OnStartService(const Peer& from, wire::Frame frame,
                                   const v1::Call& call, absl::Time now) {
  const RequestId id(frame.request_id());
  absl::StatusOr<v1::StartServiceRequest> request =
      ParseRequest<v1::StartServiceRequest>(frame.payload());
  absl::Status refused = request.status();
  if (refused.ok()) refused = ValidateServiceName(request->name());
  if (!refused.ok()) {
    ++context_.stats.calls_refused;
    context_.Answer(from.id, id, refused);
    return;
  }
  if (const std::optional<SessionId> owner =
          context_.names.OwnerOf(request->name())) {
    v1::StartServiceResult result;
    result.set_owner(owner->value());
    context_.Deliver(
        from.id, BuildReply(id, absl::OkStatus(), result.SerializeAsString()));
    return;
  }
  const ActivatableService* service =
      context_.activations.Find(request->name());
  if (service == nullptr) {
    ++context_.stats.calls_refused;
    context_.Answer(from.id, id,
                    absl::NotFoundError(absl::StrCat(
                        "no connection owns service '", request->name(),
                        "' and no activation file "
                        "describes it")));
    return;
  }
  // Held under the name it starts, so that claiming the name answers it.
  v1::Call held = call;
  held.set_service(request->name());
  calls_.HoldCall(from, std::move(frame), held, *service,
                  now + context_.CallTimeout(call.timeout_us()), now,
                  /*start_only=*/true);
}

void BrokerService::OnRegisterTypes(const Peer& from,
                                    const wire::Frame& frame) {
  const RequestId id(frame.request_id());
  if (absl::Status s = SchemaRegistry::CheckSize(frame.payload().size());
      !s.ok()) {
    FinishRegisterTypes(from, id, s);
    return;
  }
  // Parsing and building the files may take a while, off the loop
  // (schema_checker.h); the session's later frames wait for the verdict.
  SchemaJob job = context_.schemas.MakeJob(from.id, SchemaJob::Kind::kTypes,
                                           frame.payload());
  context_.schema_checker->Start(
      from.id, std::move(job), [this, from, id](SchemaVerdict verdict) {
        // The session left while its files were checked: nobody to answer.
        if (!context_.schemas.FinishJob(from.id, verdict.ticket)) return;
        FinishRegisterTypes(
            from, id,
            context_.schemas.CommitTypes(from.id, std::move(verdict)));
      });
}

void BrokerService::FinishRegisterTypes(const Peer& from, RequestId id,
                                        const absl::Status& status) {
  if (!status.ok()) {
    ++context_.stats.calls_refused;
    context_.Answer(from.id, id, status);
    return;
  }
  context_.Deliver(from.id,
                   BuildReply(id, absl::OkStatus(),
                              v1::RegisterTypesResult().SerializeAsString()));
}

absl::StatusOr<std::string> BrokerService::Answer(const Peer& from,
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
    absl::StatusOr<v1::NameList> page = ListNames(*parsed);
    if (!page.ok()) return page.status();
    return page->SerializeAsString();
  }
  if (method == kListConnectionsMethod) {
    absl::StatusOr<v1::ListConnectionsRequest> parsed =
        ParseRequest<v1::ListConnectionsRequest>(request);
    if (!parsed.ok()) return parsed.status();
    absl::StatusOr<v1::ConnectionList> page = ListConnections(*parsed);
    if (!page.ok()) return page.status();
    return page->SerializeAsString();
  }
  if (method == kGetIdentityMethod) {
    absl::StatusOr<v1::GetIdentityRequest> parsed =
        ParseRequest<v1::GetIdentityRequest>(request);
    if (!parsed.ok()) return parsed.status();
    absl::StatusOr<v1::Identity> identity = GetIdentity(*parsed);
    if (!identity.ok()) return identity.status();
    return identity->SerializeAsString();
  }
  if (method == kDescribeMethod) {
    absl::StatusOr<v1::DescribeRequest> parsed =
        ParseRequest<v1::DescribeRequest>(request);
    if (!parsed.ok()) return parsed.status();
    absl::StatusOr<v1::Description> description = Describe(*parsed, from.id);
    if (!description.ok()) return description.status();
    return description->SerializeAsString();
  }
  return absl::UnimplementedError(absl::StrCat(
      kBrokerService, " has no method '", method,
      "' (it has GetStatus, ListNames, ListConnections, GetIdentity, "
      "Describe, RegisterTypes, StartService and Monitor)"));
}

// A page is built from where its token points, and stops before an entry
// that exists once it holds its entries or bytes, so next_page_token is
// empty exactly when nothing follows. Owned names come from the
// registry's ordered index and activatable ones from their std::map: both
// O(log n) to find the start and O(1) per entry, so a page costs
// O(log n + page) (plus each entry's own size: its methods, its queue).
absl::StatusOr<v1::NameList> BrokerService::ListNames(
    const v1::ListNamesRequest& request) {
  absl::StatusOr<NamesCursor> parsed = ParseNamesToken(request.page_token());
  if (!parsed.ok()) return parsed.status();
  NamesCursor cursor = *std::move(parsed);
  const size_t limit = PageSize(request.page_size());
  v1::NameList list;
  size_t entries = 0;
  size_t bytes = 0;
  entries_visited_ = 0;
  const auto full = [&] { return entries >= limit || bytes >= kMaxPageBytes; };
  if (!cursor.activatable) {
    // One more than fits tells whether the page ends before the last name.
    for (const std::string& name :
         context_.names.NamesAfter(cursor.after, limit + 1)) {
      ++entries_visited_;
      const std::optional<SessionId> owner = context_.names.OwnerOf(name);
      if (!owner) continue;
      if (full()) {
        list.set_next_page_token(NamesToken(cursor));
        return list;
      }
      v1::NameInfo* out = list.add_names();
      *out = NameInfoOf(name, *owner);
      bytes += out->ByteSizeLong();
      ++entries;
      cursor.after = name;
    }
    cursor = NamesCursor{/*activatable=*/true, ""};
  }
  const auto& services = context_.activations.services();
  for (auto it = services.upper_bound(cursor.after); it != services.end();
       ++it) {
    ++entries_visited_;
    if (full()) {
      list.set_next_page_token(NamesToken(cursor));
      return list;
    }
    const auto& [name, service] = *it;
    v1::ActivatableName* out = list.add_activatable();
    out->set_name(name);
    for (const std::string& arg : service.command) out->add_command(arg);
    out->set_systemd_unit(service.systemd_unit);
    out->set_file(service.file);
    out->set_owner(context_.names.OwnerOf(name).value_or(SessionId()).value());
    out->set_activating(context_.activations.Activating(name));
    out->set_held_calls(
        static_cast<uint32_t>(context_.activations.HeldFor(name)));
    bytes += out->ByteSizeLong();
    ++entries;
    cursor.after = name;
  }
  return list;
}

v1::NameInfo BrokerService::NameInfoOf(const std::string& name,
                                       SessionId owner) const {
  v1::NameInfo out;
  out.set_name(name);
  out.set_owner(owner.value());
  if (auto it = context_.sessions.find(owner); it != context_.sessions.end()) {
    out.set_owner_name(it->second.client_name);
    out.set_uid(it->second.peer.uid);
    out.set_pid(it->second.peer.pid);
    out.set_exe(it->second.exe);
  }
  for (v1::MethodSchema& method : context_.schemas.MethodsOf(owner, name)) {
    *out.add_methods() = std::move(method);
  }
  out.set_queued(static_cast<uint32_t>(context_.names.QueueOf(name).size()));
  out.set_activatable(context_.activations.Find(name) != nullptr);
  return out;
}

// The token is the last connection id listed, in decimal. The page starts
// from the ordered index of connection ids (O(log c)) and describes only
// its own connections (their names, subscriptions and calls: the part that
// grows with what each connection holds), as ListNames does.
absl::StatusOr<v1::Identity> BrokerService::GetIdentity(
    const v1::GetIdentityRequest& request) const {
  auto it = context_.sessions.find(SessionId(request.connection_id()));
  if (request.connection_id() == 0 || it == context_.sessions.end()) {
    // Ids are never reused, so an identity once given out stays true.
    return absl::NotFoundError(absl::StrCat(
        "connection :", request.connection_id(), " is not connected"));
  }
  return it->second.identity;
}

absl::StatusOr<v1::ConnectionList> BrokerService::ListConnections(
    const v1::ListConnectionsRequest& request) {
  uint64_t after = 0;
  if (!request.page_token().empty() &&
      !absl::SimpleAtoi(request.page_token(), &after)) {
    return BadToken(kListConnectionsMethod, request.page_token());
  }
  const size_t limit = PageSize(request.page_size());
  v1::ConnectionList list;
  size_t bytes = 0;
  entries_visited_ = 0;
  for (auto it = connection_ids_.upper_bound(SessionId(after));
       it != connection_ids_.end(); ++it) {
    ++entries_visited_;
    auto session = context_.sessions.find(*it);
    if (session == context_.sessions.end()) continue;  // kept in step
    if (static_cast<size_t>(list.connections_size()) >= limit ||
        bytes >= kMaxPageBytes) {
      list.set_next_page_token(absl::StrCat(after));
      return list;
    }
    v1::ConnectionInfo* out = list.add_connections();
    *out = ConnectionInfoOf(*it, session->second);
    bytes += out->ByteSizeLong();
    after = it->value();
  }
  return list;
}

v1::ConnectionInfo BrokerService::ConnectionInfoOf(
    SessionId id, const SessionInfo& info) const {
  v1::ConnectionInfo out;
  out.set_connection_id(id.value());
  out.set_client_name(info.client_name);
  out.set_uid(info.peer.uid);
  out.set_pid(info.peer.pid);
  out.set_exe(info.exe);
  *out.mutable_identity() = info.identity;
  out.set_transport(info.transport);
  out.set_connected_unix_us(UnixMicros(info.connected));
  const Traffic traffic = context_.outbox.SessionTraffic(id);
  out.set_frames_in(traffic.frames_in);
  out.set_frames_out(traffic.frames_out);
  out.set_bytes_in(traffic.bytes_in);
  out.set_bytes_out(traffic.bytes_out);
  out.set_queued_bytes(context_.outbox.QueuedBytes(id));
  out.set_queued_fds(context_.outbox.QueuedFds(id));
  for (std::string& name : context_.names.NamesOwnedBy(id)) {
    out.add_names(std::move(name));
  }
  out.set_subscriptions(
      static_cast<uint32_t>(context_.subscriptions.CountFor(id)));
  out.set_messages_dropped(context_.subscriptions.DroppedFor(id));
  // A running monitor is a call that waits for its final reply too.
  out.set_calls_waiting(static_cast<uint32_t>(
      context_.calls.CountForCaller(id) + context_.monitors.CountFor(id)));
  out.set_calls_serving(
      static_cast<uint32_t>(context_.calls.CountForCallee(id)));
  return out;
}

absl::StatusOr<v1::Description> BrokerService::Describe(
    const v1::DescribeRequest& request, SessionId asker) const {
  if (request.name().empty() == request.type().empty()) {
    return absl::InvalidArgumentError(
        "Describe takes exactly one of 'name' and 'type'");
  }
  v1::Description description;
  if (!request.type().empty()) {
    std::optional<google::protobuf::FileDescriptorSet> files =
        context_.schemas.FilesDefining(request.type(), asker);
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
  const std::optional<SessionId> owner = context_.names.OwnerOf(request.name());
  if (!owner) {
    return absl::NotFoundError(
        absl::StrCat("no connection owns service '", request.name(), "'"));
  }
  description.set_name(request.name());
  description.set_owner(owner->value());
  for (v1::MethodSchema& method :
       context_.schemas.MethodsOf(*owner, request.name())) {
    *description.add_methods() = std::move(method);
  }
  *description.mutable_files() =
      context_.schemas.FilesOf(*owner, request.name());
  return description;
}

void BrokerService::SampleTraffic(absl::Time now) {
  previous_sample_ = last_sample_;
  last_sample_ = TrafficSample{now, context_.outbox.TotalTraffic()};
}

void BrokerService::AddUidUse(v1::ResourceUse& use) const {
  const UidLimits& limits = context_.accounts.limits();
  use.set_max_names_per_uid(limits.max_names);
  use.set_max_subscriptions_per_uid(limits.max_subscriptions);
  use.set_max_pending_calls_per_uid(limits.max_pending_calls);
  use.set_max_schema_bytes_per_uid(limits.max_schema_bytes);
  absl::flat_hash_map<uint32_t, v1::UidUse*> listed;
  for (const auto& [uid, usage] : context_.accounts.All()) {
    v1::UidUse* out = use.add_uids();
    listed[uid] = out;
    out->set_uid(uid);
    out->set_names(usage.of(Quota::kNames));
    out->set_subscriptions(usage.of(Quota::kSubscriptions));
    out->set_pending_calls(usage.of(Quota::kPendingCalls));
    out->set_schema_bytes(usage.of(Quota::kSchemaBytes));
  }
  for (const auto& entry : context_.accounts.AllRefused()) {
    v1::UidUse*& out = listed[entry.first];
    if (out == nullptr) {
      out = use.add_uids();
      out->set_uid(entry.first);
    }
    const UidAccounts::Refusals& refused = entry.second;
    auto of = [&refused](Quota quota) {
      return refused[static_cast<size_t>(quota)];
    };
    out->set_names_refused(of(Quota::kNames));
    out->set_subscriptions_refused(of(Quota::kSubscriptions));
    out->set_pending_calls_refused(of(Quota::kPendingCalls));
    out->set_schema_bytes_refused(of(Quota::kSchemaBytes));
  }
  std::sort(use.mutable_uids()->begin(), use.mutable_uids()->end(),
            [](const v1::UidUse& a, const v1::UidUse& b) {
              return a.uid() < b.uid();
            });
}

v1::BrokerStatus BrokerService::Status(absl::Time now) const {
  v1::BrokerStatus status;
  status.set_version(context_.config.broker_version.empty()
                         ? std::string(kBrokerVersion)
                         : context_.config.broker_version);
  status.set_uptime_us(static_cast<uint64_t>(std::max<int64_t>(
      0, absl::ToInt64Microseconds(now - context_.config.started))));
  for (const std::string& address : context_.config.addresses) {
    status.add_addresses(address);
  }
  status.set_pid(context_.config.broker_pid);
  status.set_uid(context_.config.broker_uid);
  status.set_connections(context_.sessions.size());
  status.set_names(context_.names.name_count());
  const Traffic traffic = context_.outbox.TotalTraffic();
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
  status.set_calls(context_.stats.calls);
  status.set_calls_refused(context_.stats.calls_refused);
  status.set_deadlines_exceeded(context_.stats.deadlines_exceeded);
  status.set_streams(context_.stats.streams);
  status.set_stream_replies(context_.stats.stream_replies);
  status.set_publishes(context_.stats.publishes);
  status.set_messages_delivered(context_.stats.messages_delivered);
  status.set_messages_dropped(context_.stats.messages_dropped);
  status.set_buffers_refused(context_.stats.buffers_refused);
  status.set_protocol_errors(context_.stats.protocol_errors);
  status.set_subscription_count(context_.subscriptions.size());
  for (const Subscription* subscription :
       context_.subscriptions.First(kMaxStatusSubscriptions)) {
    v1::SubscriptionStatus* out = status.add_subscriptions();
    out->set_connection_id(subscription->key.session.value());
    out->set_subscription_id(subscription->key.id);
    out->set_pattern(subscription->pattern);
    out->set_policy(std::string(PolicyName(subscription->policy)));
    out->set_max_messages(subscription->max_messages);
    out->set_max_bytes(subscription->max_bytes);
    const Outbox::Queued queued = context_.outbox.QueuedMessages(
        subscription->key.session, subscription->key.id);
    out->set_queued_messages(queued.messages);
    out->set_queued_bytes(queued.bytes);
    out->set_delivered(subscription->delivered);
    out->set_dropped(subscription->dropped);
  }
  AddUidUse(*status.mutable_resources());
  if (context_.config.add_server_status) {
    context_.config.add_server_status(status);
  }
  return status;
}

}  // namespace switchboard::core
