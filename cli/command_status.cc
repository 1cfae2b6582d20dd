// SPDX-License-Identifier: MIT
//
// `switchboard status`: the broker's GetStatus as a key/value list and a
// table of subscriptions, or the BrokerStatus message as JSON.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker.h"
#include "commands.h"
#include "json.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "table.h"

namespace switchboard::cli {
namespace {

std::string InOut(uint64_t in, uint64_t out, double in_rate, double out_rate) {
  return absl::StrCat(FormatCount(in), " in, ", FormatCount(out), " out (",
                      FormatRate(in_rate), "/s in, ", FormatRate(out_rate),
                      "/s out)");
}

// "; refused: 3 names, 12 queued" for a uid refused anything at its quotas
// or the ceiling; "" if nothing.
std::string UidRefusals(const v1::UidUse& uid) {
  std::vector<std::string> parts;
  auto add = [&parts](uint64_t count, absl::string_view what) {
    if (count > 0) parts.push_back(absl::StrCat(FormatCount(count), " ", what));
  };
  add(uid.names_refused(), "names");
  add(uid.subscriptions_refused(), "subscriptions");
  add(uid.pending_calls_refused(), "calls");
  add(uid.schema_bytes_refused(), "schemas");
  add(uid.queued_bytes_refused(), "queued");
  add(uid.fds_refused(), "buffers");
  add(uid.ceiling_refused(), "at the ceiling");
  if (parts.empty()) return "";
  return absl::StrCat("; refused: ", absl::StrJoin(parts, ", "));
}

std::string Summary(const v1::BrokerStatus& s) {
  Table table({{""}, {""}});
  table.AddRow({"version", s.version()});
  table.AddRow({"addresses", absl::StrJoin(s.addresses(), " ")});
  table.AddRow({"pid", absl::StrCat(s.pid())});
  table.AddRow({"uid", absl::StrCat(s.uid())});
  table.AddRow({"uptime", FormatUptime(absl::Microseconds(s.uptime_us()))});
  table.AddRow({"connections", FormatCount(s.connections())});
  table.AddRow({"names", FormatCount(s.names())});
  table.AddRow({"frames", InOut(s.frames_in(), s.frames_out(),
                                s.frames_in_per_s(), s.frames_out_per_s())});
  table.AddRow(
      {"bytes", absl::StrCat(FormatBytes(s.bytes_in()), " in, ",
                             FormatBytes(s.bytes_out()), " out (",
                             FormatByteRate(s.bytes_in_per_s()), " in, ",
                             FormatByteRate(s.bytes_out_per_s()), " out)")});
  table.AddRow(
      {"calls", absl::StrCat(FormatCount(s.calls()), " (",
                             FormatCount(s.calls_refused()), " refused, ",
                             FormatCount(s.deadlines_exceeded()),
                             " deadlines exceeded)")});
  table.AddRow({"streams", absl::StrCat(FormatCount(s.streams()), " (",
                                        FormatCount(s.stream_replies()),
                                        " stream replies)")});
  table.AddRow({"publishes", FormatCount(s.publishes())});
  table.AddRow(
      {"messages",
       absl::StrCat(FormatCount(s.messages_delivered()), " delivered, ",
                    FormatCount(s.messages_dropped()), " dropped")});
  table.AddRow(
      {"errors",
       absl::StrCat(FormatCount(s.protocol_errors()), " protocol errors, ",
                    FormatCount(s.buffers_refused()), " buffers refused")});
  // A broker older than subscription_count lists them all.
  const uint64_t listed = static_cast<uint64_t>(s.subscriptions_size());
  const uint64_t subscriptions = std::max(listed, s.subscription_count());
  table.AddRow({"subscriptions",
                listed < subscriptions
                    ? absl::StrCat(FormatCount(subscriptions), " (the first ",
                                   FormatCount(listed), " listed below)")
                    : FormatCount(subscriptions)});
  if (s.has_resources()) {
    const v1::ResourceUse& r = s.resources();
    table.AddRow(
        {"limits",
         absl::StrCat(FormatCount(r.max_connections()), " connections (",
                      FormatCount(r.max_connections_per_uid()), " per uid, ",
                      FormatCount(r.max_unauthenticated()),
                      " before HELLO), from ",
                      FormatCount(r.descriptor_table()), " descriptors")});
    table.AddRow({"buffers held",
                  absl::StrCat(FormatCount(r.fds_in_flight()), " of ",
                               FormatCount(r.max_fds_in_flight()), " (",
                               FormatCount(r.max_fds_in_flight_per_receiver()),
                               " per receiver)")});
    // One row per uid: what it holds against each per-uid quota.
    std::string key = "per uid";
    for (const v1::UidUse& uid : r.uids()) {
      table.AddRow(
          {std::exchange(key, ""),
           absl::StrCat(
               "uid ", uid.uid(), ": ", FormatCount(uid.connections()), " of ",
               FormatCount(r.max_connections_per_uid()), " connections, ",
               FormatCount(uid.names()), " of ",
               FormatCount(r.max_names_per_uid()), " names, ",
               FormatCount(uid.subscriptions()), " of ",
               FormatCount(r.max_subscriptions_per_uid()), " subscriptions, ",
               FormatCount(uid.pending_calls()), " of ",
               FormatCount(r.max_pending_calls_per_uid()), " calls, ",
               FormatBytes(static_cast<double>(uid.schema_bytes())), " of ",
               FormatBytes(static_cast<double>(r.max_schema_bytes_per_uid())),
               " schemas, ",
               FormatBytes(static_cast<double>(uid.queued_bytes())), " of ",
               FormatBytes(static_cast<double>(r.max_queued_bytes_per_uid())),
               " queued, ", FormatCount(uid.fds_in_flight()), " of ",
               FormatCount(r.max_fds_in_flight_per_uid()), " buffers",
               UidRefusals(uid))});
    }
    if (!key.empty()) table.AddRow({key, "none"});
    table.AddRow(
        {"refused",
         absl::StrCat(FormatCount(r.connections_refused()),
                      " connections at the limit, ",
                      FormatCount(r.connections_over_uid_limit()),
                      " over their uid's, ",
                      FormatCount(r.unauthenticated_evicted()),
                      " closed before HELLO, ", FormatCount(r.fds_over_limit()),
                      " frames over the buffer limit")});
    table.AddRow(
        {"memory held",
         absl::StrCat(FormatBytes(static_cast<double>(r.queued_bytes())),
                      " queued and ",
                      FormatBytes(static_cast<double>(r.reading_bytes())),
                      " of frames being read, of ",
                      FormatBytes(static_cast<double>(r.max_memory())), " (",
                      FormatCount(r.output_refused()),
                      " refused at a uid's quota or the ceiling)")});
    table.AddRow(
        {"memory",
         absl::StrCat(FormatBytes(r.resident_bytes()), " resident, ",
                      FormatBytes(r.heap_bytes_returned()), " returned in ",
                      FormatCount(r.heap_trims()), " trims")});
  }
  return table.Render();
}

std::string Subscriptions(const v1::BrokerStatus& s) {
  Table table({{"CONNECTION", true},
               {"SUB", true},
               {"PATTERN"},
               {"POLICY"},
               {"QUEUED", true},
               {"LIMIT", true},
               {"DELIVERED", true},
               {"DROPPED", true}});
  for (const v1::SubscriptionStatus& sub : s.subscriptions()) {
    table.AddRow({absl::StrCat(":", sub.connection_id()),
                  absl::StrCat(sub.subscription_id()), sub.pattern(),
                  sub.policy(),
                  absl::StrCat(sub.queued_messages(), " (",
                               FormatBytes(sub.queued_bytes()), ")"),
                  absl::StrCat(sub.max_messages(), " (",
                               FormatBytes(sub.max_bytes()), ")"),
                  FormatCount(sub.delivered()), FormatCount(sub.dropped())});
  }
  return table.Render();
}

}  // namespace

absl::Status RunStatus(const Options& options) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  SB_ASSIGN_OR_RETURN(
      v1::BrokerStatus status,
      CallBroker<v1::BrokerStatus>(*client, "GetStatus", v1::GetStatusRequest(),
                                   options));
  if (options.json) {
    SB_ASSIGN_OR_RETURN(std::string json, MessageToJson(status));
    PrintLine(json);
    return absl::OkStatus();
  }
  std::string out = Summary(status);
  if (status.subscriptions_size() > 0) {
    absl::StrAppend(&out, "\n", Subscriptions(status));
  }
  std::fputs(out.c_str(), stdout);
  return absl::OkStatus();
}

}  // namespace switchboard::cli
