// SPDX-License-Identifier: MIT
//
// `switchboard connections`: every connection to the broker
// (switchboard.Broker/ListConnections, every page).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "broker.h"
#include "commands.h"
#include "json.h"
#include "listings.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "table.h"

namespace switchboard::cli {

absl::Status RunConnections(const Options& options) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  SB_ASSIGN_OR_RETURN(
      v1::ConnectionList list,
      ListEveryConnection(*client, options.TimeoutOr(kDefaultTimeout)));
  if (options.json) {
    SB_ASSIGN_OR_RETURN(std::string json, MessageToJson(list));
    PrintLine(json);
    return absl::OkStatus();
  }
  Table table({{"ID"},
               {"CLIENT"},
               {"PID", true},
               {"UID", true},
               {"TRANSPORT"},
               {"UNIT"},
               {"FRAMES IN", true},
               {"FRAMES OUT", true},
               {"BYTES IN", true},
               {"BYTES OUT", true},
               {"QUEUED", true},
               {"SUBS", true},
               {"NAMES"}});
  for (const v1::ConnectionInfo& c : list.connections()) {
    table.AddRow({absl::StrCat(":", c.connection_id()), c.client_name(),
                  absl::StrCat(c.pid()), absl::StrCat(c.uid()), c.transport(),
                  c.identity().unit().empty() ? "-" : c.identity().unit(),
                  FormatCount(c.frames_in()), FormatCount(c.frames_out()),
                  FormatBytes(c.bytes_in()), FormatBytes(c.bytes_out()),
                  FormatBytes(c.queued_bytes()),
                  absl::StrCat(c.subscriptions()),
                  absl::StrJoin(c.names(), ",")});
  }
  std::fputs(table.Render().c_str(), stdout);
  return absl::OkStatus();
}

}  // namespace switchboard::cli
