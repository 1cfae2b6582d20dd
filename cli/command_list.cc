// SPDX-License-Identifier: MIT
//
// `switchboard list`: every owned name (switchboard.Broker/ListNames).
#include <string>

#include "absl/strings/str_cat.h"
#include "broker.h"
#include "commands.h"
#include "json.h"
#include "switchboard/status_macros.h"
#include "switchboard/v1/broker.pb.h"
#include "table.h"

namespace switchboard::cli {

absl::Status RunList(const Options& options) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, ConnectToBroker(options));
  SB_ASSIGN_OR_RETURN(v1::NameList names, CallBroker<v1::NameList>(
                                              *client, "ListNames",
                                              v1::ListNamesRequest(), options));
  if (options.json) {
    SB_ASSIGN_OR_RETURN(std::string json, MessageToJson(names));
    PrintLine(json);
    return absl::OkStatus();
  }
  Table table({{"NAME"},
               {"OWNER"},
               {"CLIENT"},
               {"PID", true},
               {"UID", true},
               {"METHODS", true},
               {"QUEUED", true},
               {"EXE"}});
  for (const v1::NameInfo& name : names.names()) {
    table.AddRow({name.name(), absl::StrCat(":", name.owner()),
                  name.owner_name(), absl::StrCat(name.pid()),
                  absl::StrCat(name.uid()), absl::StrCat(name.methods_size()),
                  absl::StrCat(name.queued()), name.exe()});
  }
  std::fputs(table.Render().c_str(), stdout);
  return absl::OkStatus();
}

}  // namespace switchboard::cli
