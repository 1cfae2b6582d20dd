// SPDX-License-Identifier: MIT
#include "top_view.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "json.h"
#include "table.h"

namespace switchboard::cli {
namespace {

// Counters only grow; a smaller value (a restarted broker) counts as 0.
double Rate(uint64_t older, uint64_t newer, double seconds) {
  if (seconds <= 0 || newer < older) return 0;
  return static_cast<double>(newer - older) / seconds;
}

bool Busier(const ConnectionRates& a, const ConnectionRates& b) {
  const double a_bytes = a.bytes_in_per_s + a.bytes_out_per_s;
  const double b_bytes = b.bytes_in_per_s + b.bytes_out_per_s;
  const double a_frames = a.frames_in_per_s + a.frames_out_per_s;
  const double b_frames = b.frames_in_per_s + b.frames_out_per_s;
  return std::make_tuple(-a_bytes, -a_frames, a.info->connection_id()) <
         std::make_tuple(-b_bytes, -b_frames, b.info->connection_id());
}

}  // namespace

TopSnapshot ComputeSnapshot(const TopSample* older, const TopSample& newer) {
  TopSnapshot snapshot;
  snapshot.sample = &newer;
  if (older != nullptr) {
    snapshot.seconds = absl::ToDoubleSeconds(newer.time - older->time);
  }
  const double s = snapshot.seconds;
  const v1::BrokerStatus empty_status;
  const v1::BrokerStatus& old_status =
      older != nullptr ? older->status : empty_status;
  snapshot.frames_in_per_s =
      Rate(old_status.frames_in(), newer.status.frames_in(), s);
  snapshot.frames_out_per_s =
      Rate(old_status.frames_out(), newer.status.frames_out(), s);
  snapshot.bytes_in_per_s =
      Rate(old_status.bytes_in(), newer.status.bytes_in(), s);
  snapshot.bytes_out_per_s =
      Rate(old_status.bytes_out(), newer.status.bytes_out(), s);
  snapshot.dropped_per_s =
      Rate(old_status.messages_dropped(), newer.status.messages_dropped(), s);

  absl::flat_hash_map<uint64_t, const v1::ConnectionInfo*> before;
  if (older != nullptr) {
    for (const v1::ConnectionInfo& c : older->connections.connections()) {
      before[c.connection_id()] = &c;
    }
  }
  const v1::ConnectionInfo none;
  for (const v1::ConnectionInfo& c : newer.connections.connections()) {
    auto it = before.find(c.connection_id());
    const v1::ConnectionInfo& old = it != before.end() ? *it->second : none;
    snapshot.connections.push_back({&c, Rate(old.frames_in(), c.frames_in(), s),
                                    Rate(old.frames_out(), c.frames_out(), s),
                                    Rate(old.bytes_in(), c.bytes_in(), s),
                                    Rate(old.bytes_out(), c.bytes_out(), s)});
  }
  std::sort(snapshot.connections.begin(), snapshot.connections.end(), Busier);
  return snapshot;
}

std::string RenderTopText(const TopSnapshot& snapshot, int max_rows) {
  const v1::BrokerStatus& status = snapshot.sample->status;
  std::string out = absl::StrCat(
      "switchboard top - broker ", status.version(), ", up ",
      FormatUptime(absl::Microseconds(status.uptime_us())), ", ",
      status.connections(), " connections, ", status.names(), " names\n",
      "frames/s ", FormatRate(snapshot.frames_in_per_s), " in, ",
      FormatRate(snapshot.frames_out_per_s), " out   bytes/s ",
      FormatBytes(snapshot.bytes_in_per_s), " in, ",
      FormatBytes(snapshot.bytes_out_per_s), " out   dropped ",
      FormatCount(status.messages_dropped()), " (",
      FormatRate(snapshot.dropped_per_s), "/s)\n",
      snapshot.seconds > 0 ? "" : "(rates from the next sample on)\n", "\n");
  Table table({{"ID"},
               {"CLIENT"},
               {"PID", true},
               {"FRAMES/S IN", true},
               {"FRAMES/S OUT", true},
               {"BYTES/S IN", true},
               {"BYTES/S OUT", true},
               {"QUEUED", true},
               {"SUBS", true},
               {"NAMES"}});
  int rows = 0;
  for (const ConnectionRates& c : snapshot.connections) {
    if (max_rows > 0 && rows++ >= max_rows) break;
    table.AddRow({absl::StrCat(":", c.info->connection_id()),
                  c.info->client_name(), absl::StrCat(c.info->pid()),
                  FormatRate(c.frames_in_per_s), FormatRate(c.frames_out_per_s),
                  FormatBytes(c.bytes_in_per_s), FormatBytes(c.bytes_out_per_s),
                  FormatBytes(c.info->queued_bytes()),
                  absl::StrCat(c.info->subscriptions()),
                  absl::StrJoin(c.info->names(), ",")});
  }
  absl::StrAppend(&out, table.Render());
  return out;
}

std::string RenderTopJson(const TopSnapshot& snapshot) {
  const v1::BrokerStatus& status = snapshot.sample->status;
  std::vector<std::string> connections;
  for (const ConnectionRates& c : snapshot.connections) {
    std::vector<std::string> names;
    for (const std::string& name : c.info->names()) {
      names.push_back(JsonString(name));
    }
    connections.push_back(
        JsonObject()
            .Add("connection_id", c.info->connection_id())
            .Add("client_name", c.info->client_name())
            .Add("pid", uint64_t{c.info->pid()})
            .Add("frames_in_per_s", c.frames_in_per_s)
            .Add("frames_out_per_s", c.frames_out_per_s)
            .Add("bytes_in_per_s", c.bytes_in_per_s)
            .Add("bytes_out_per_s", c.bytes_out_per_s)
            .Add("queued_bytes", c.info->queued_bytes())
            .Add("subscriptions", uint64_t{c.info->subscriptions()})
            .AddRaw("names", absl::StrCat("[", absl::StrJoin(names, ","), "]"))
            .Build());
  }
  return JsonObject()
      .Add("time", JsonTime(snapshot.sample->time))
      .Add("interval_s", snapshot.seconds)
      .Add("uptime_us", status.uptime_us())
      .Add("connection_count", status.connections())
      .Add("name_count", status.names())
      .Add("frames_in_per_s", snapshot.frames_in_per_s)
      .Add("frames_out_per_s", snapshot.frames_out_per_s)
      .Add("bytes_in_per_s", snapshot.bytes_in_per_s)
      .Add("bytes_out_per_s", snapshot.bytes_out_per_s)
      .Add("messages_dropped", status.messages_dropped())
      .Add("dropped_per_s", snapshot.dropped_per_s)
      .AddRaw("connections",
              absl::StrCat("[", absl::StrJoin(connections, ","), "]"))
      .Build();
}

}  // namespace switchboard::cli
