// SPDX-License-Identifier: MIT
//
// `switchboard monitor [PATTERN]`: streams switchboard.Broker/Monitor and
// prints each event, its payload decoded with the type the frame names or,
// for calls and replies, the type the service's schema gives the method.
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "broker.h"
#include "commands.h"
#include "json.h"
#include "schemas.h"
#include "signals.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"

namespace switchboard::cli {
namespace {

// Credit for the monitor's stream: events the broker may send ahead.
constexpr uint32_t kWindow = 256;
// The broker's longest deadline, for a monitor without --timeout.
constexpr absl::Duration kLongest = absl::Hours(24);

std::string KindWord(const v1::MonitorEvent& event) {
  switch (event.kind()) {
    case v1::MonitorEvent::KIND_CALL:
      return "call";
    case v1::MonitorEvent::KIND_REPLY:
      return event.code() == 0 ? "reply" : "error";
    case v1::MonitorEvent::KIND_STREAM_REPLY:
      return "stream";
    case v1::MonitorEvent::KIND_CANCEL:
      return "cancel";
    case v1::MonitorEvent::KIND_PUBLISH:
      return "publish";
    default:
      return "event";
  }
}

// The method's schema, or null when the service has none for it.
const v1::MethodSchema* FindMethod(const v1::MonitorEvent& event,
                                   Schemas& schemas) {
  if (event.service().empty()) return nullptr;
  absl::StatusOr<const v1::Description*> description =
      schemas.DescribeName(event.service());
  if (!description.ok()) return nullptr;
  for (const v1::MethodSchema& method : (*description)->methods()) {
    if (method.name() == event.method()) return &method;
  }
  return nullptr;
}

// The payload's type: the one the frame named, else the method's from the
// service's schema (request for a call, response for replies). None for
// the final reply of a stream, whose empty payload is not a message.
std::string PayloadType(const v1::MonitorEvent& event, Schemas& schemas) {
  const bool final_reply = event.kind() == v1::MonitorEvent::KIND_REPLY;
  if (final_reply && event.code() != 0) return "";
  if (!event.type().empty() && !(final_reply && event.payload_size() == 0)) {
    return event.type();
  }
  const v1::MethodSchema* method = FindMethod(event, schemas);
  if (method == nullptr || (final_reply && method->streaming())) return "";
  return event.kind() == v1::MonitorEvent::KIND_CALL ? method->request_type()
                                                     : method->response_type();
}

// The payload as JSON, or nullopt when its type is unknown, it was cut
// (max_payload_bytes) or it does not decode.
std::optional<std::string> DecodePayload(const v1::MonitorEvent& event,
                                         Schemas& schemas) {
  if (event.payload().size() < event.payload_size()) return std::nullopt;
  const std::string type = PayloadType(event, schemas);
  if (type.empty()) return std::nullopt;
  absl::StatusOr<std::string> json =
      schemas.ToJson(type, event.payload(), false);
  if (!json.ok()) return std::nullopt;
  return *json;
}

std::string Party(uint64_t id, const std::string& name) {
  if (id == 0) return "broker";
  return name.empty() ? absl::StrCat(":", id)
                      : absl::StrCat(":", id, " ", name);
}

std::string HumanLine(const v1::MonitorEvent& event,
                      const std::optional<std::string>& decoded) {
  const absl::Time time = absl::FromUnixMicros(event.time_unix_us());
  std::string line = absl::StrCat(
      absl::FormatTime("%H:%M:%E6S", time, absl::LocalTimeZone()), "  ",
      KindWord(event), "  ", Party(event.from(), event.from_name()), " -> ");
  if (event.kind() == v1::MonitorEvent::KIND_PUBLISH) {
    absl::StrAppend(&line, event.delivered(), " subscription",
                    event.delivered() == 1 ? "" : "s", "  ", event.topic());
  } else {
    absl::StrAppend(&line, Party(event.to(), event.to_name()), "  ",
                    event.service(), "/", event.method());
  }
  if (event.code() != 0) {
    absl::StrAppend(
        &line, "  ",
        absl::StatusCodeToString(static_cast<absl::StatusCode>(event.code())),
        ": ", event.status_message());
  }
  if (decoded.has_value()) {
    absl::StrAppend(&line, "  ", *decoded);
  } else if (event.payload_size() > 0) {
    absl::StrAppend(&line, "  (", event.payload_size(), " bytes",
                    event.type().empty() ? "" : " of ", event.type(), ")");
  }
  if (event.buffers() > 0) {
    absl::StrAppend(&line, "  +", event.buffers(), " buffer",
                    event.buffers() == 1 ? "" : "s");
  }
  return line;
}

absl::Status PrintEvent(const v1::MonitorEvent& event, Schemas& schemas,
                        const Options& options) {
  const std::optional<std::string> decoded = DecodePayload(event, schemas);
  if (options.json) {
    SB_ASSIGN_OR_RETURN(std::string json, MessageToJson(event));
    // The decoded payload joins the event as "message".
    if (decoded.has_value()) json = AddMember(json, "message", *decoded);
    PrintLine(json);
    return absl::OkStatus();
  }
  if (event.missed_before() > 0) {
    PrintLine(absl::StrCat("--- ", event.missed_before(),
                           " events missed (the monitor fell behind) ---"));
  }
  PrintLine(HumanLine(event, decoded));
  return absl::OkStatus();
}

// Interrupted by a signal: the watcher cancels the running stream, which
// ends Next() on the main thread; `mu` keeps the stream alive meanwhile.
absl::Mutex monitor_mu;
bool monitor_interrupted ABSL_GUARDED_BY(monitor_mu) = false;
ReplyStream* running_monitor ABSL_GUARDED_BY(monitor_mu) = nullptr;

// Runs one Monitor call, printing its events, until it ends or `events`
// reaches --count. Returns the stream's end (OK when the broker ended it
// or --count was reached).
absl::Status FollowMonitor(Client& client, Schemas& schemas,
                           absl::Duration timeout, const Options& options,
                           int64_t& events) {
  v1::MonitorRequest request;
  if (!options.args.empty()) request.set_pattern(options.args[0]);
  StreamOptions stream_options;
  stream_options.window = kWindow;
  stream_options.timeout = timeout;
  SB_ASSIGN_OR_RETURN(
      std::unique_ptr<ReplyStream> stream,
      client.CallStream(kBrokerService, "Monitor", request, stream_options));
  {
    absl::MutexLock lock(&monitor_mu);
    running_monitor = stream.get();
    if (monitor_interrupted) stream->Cancel();  // a signal came before this
  }
  absl::Status status;
  while (options.count == 0 || events < options.count) {
    absl::StatusOr<std::optional<Payload>> next = stream->Next();
    if (!next.ok()) {
      status = next.status();
      break;
    }
    if (!next->has_value()) break;  // the broker ended it
    v1::MonitorEvent event;
    if (absl::Status s = MessageFromBytes((*next)->view(), event); !s.ok()) {
      status = absl::InternalError(
          absl::StrCat("a monitor event does not parse: ", s.message()));
      break;
    }
    status = PrintEvent(event, schemas, options);
    if (!status.ok()) break;
    ++events;
  }
  absl::MutexLock lock(&monitor_mu);
  running_monitor = nullptr;  // the watcher may not touch the stream now
  return status;
}

bool Interrupted() {
  absl::MutexLock lock(&monitor_mu);
  return monitor_interrupted;
}

}  // namespace

absl::Status RunMonitor(const Options& options) {
  WatchTerminationSignals([](int) {
    absl::MutexLock lock(&monitor_mu);
    monitor_interrupted = true;
    if (running_monitor != nullptr) running_monitor->Cancel();
  });
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  Schemas schemas(*client, kDefaultTimeout);
  const absl::Time deadline = options.timeout.has_value()
                                  ? absl::Now() + *options.timeout
                                  : absl::InfiniteFuture();
  int64_t events = 0;
  while (true) {
    // Without --timeout the monitor runs until stopped: a Monitor call
    // lasts at most the broker's longest deadline, so it is renewed.
    const absl::Duration left = std::min(kLongest, deadline - absl::Now());
    const absl::Status status =
        FollowMonitor(*client, schemas, left, options, events);
    if (Interrupted()) return absl::OkStatus();
    if (status.code() != absl::StatusCode::kDeadlineExceeded) return status;
    if (absl::Now() < deadline) continue;
    if (options.count == 0) return absl::OkStatus();
    return absl::DeadlineExceededError(absl::StrCat(
        "only ", events, " of ", options.count, " events came within ",
        absl::FormatDuration(*options.timeout)));
  }
}

}  // namespace switchboard::cli
